using System;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Firmware.Tests;

public class UpdateTests(ITestOutputHelper output)
{
    private static readonly byte[] V1 = ModelLoaderTests.Blob("pca-36-6");
    private static readonly byte[] V2 = ModelLoaderTests.Blob("kmeans-36-8"); // as the device test passes it: the scenarios version their releases
    private static readonly float[] Golden = UpdateCases.Golden();

    [Fact]
    public void Fresh_install_then_upgrade_confirms_both() => UpdateCases.InstallAndUpgrade(V1, V2, Golden);

    [Fact]
    public void Bad_offers_and_payloads_are_refused_with_their_reason() => UpdateCases.RefusesBadOffers(V1, V2, Golden);

    [Fact]
    public void Failed_self_test_rolls_back_and_burns_the_release() => UpdateCases.SelfTestFailureRollsBack(V1, V2, Golden);

    [Fact]
    public void Download_resumes_after_a_reset() => UpdateCases.ResumesAfterReset(V1, Golden);

    [Fact]
    public void Power_loss_at_every_write_step_still_boots_a_valid_model()
    {
        int steps = UpdateCases.PowerLossAtEveryStep(V1, V2, Golden);
        output.WriteLine($"power loss injected at each of {steps} write steps of an update");
        Assert.True(steps >= V2.Length / UpdateCases.ChunkSize);
    }

    [Fact]
    public void The_same_update_works_on_real_files()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-slots-" + Guid.NewGuid().ToString("N"));
        try
        {
            var storage = new FileModelStorage(dir);
            ModelUpdater node = UpdateCases.Node(storage);
            Assert.Equal(UpdateState.Confirmed, UpdateCases.Deliver(node, UpdateCases.Manifest(V1, 1, Golden, false), V1, 1).State);
            byte[] v2 = UpdateCases.AsVersion(V2, 2);
            Assert.Equal(UpdateState.Confirmed, UpdateCases.Deliver(node, UpdateCases.Manifest(v2, 2, Golden, false), v2, 2).State);
            ModelUpdater rebooted = UpdateCases.Node(new FileModelStorage(dir));
            Assert.Equal(2u, rebooted.InstalledSequence);
            Assert.Equal(v2, File.ReadAllBytes(Path.Combine(dir, ModelUpdater.SlotFiles[rebooted.ActiveSlot])));
            Assert.False(File.Exists(Path.Combine(dir, ModelUpdater.IncomingPayloadFile)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_release_at_hand_installs_through_the_same_checks_as_one_over_the_air()
    {
        byte[] v1 = UpdateCases.AsVersion(V1, 1);
        byte[] manifest = UpdateManifest.Describe(v1, 1, UpdateCases.NodeId, Golden).EncodeAndSign(UpdateCases.NodeKey);
        var storage = new FaultyStorage();
        ModelUpdater node = UpdateCases.Node(storage);

        Assert.Equal(UpdateError.BadChunk, node.Install(manifest, v1[..^1], 100).Error); // a truncated file
        byte[] corrupt = (byte[])v1.Clone();
        corrupt[^1] ^= 0x10;
        Assert.Equal(UpdateError.DigestMismatch, node.Install(manifest, corrupt, 100).Error);
        byte[] otherKey = UpdateManifest.Describe(v1, 1, UpdateCases.NodeId, Golden).EncodeAndSign(new byte[20]);
        Assert.Equal(UpdateError.BadSignature, node.Install(otherKey, v1, 100).Error);
        Assert.Null(node.ActiveModel);

        Assert.Equal(UpdateState.Confirmed, node.Install(manifest, v1, 100).State);
        ModelUpdater rebooted = UpdateCases.Node(storage);
        Assert.Equal(1u, rebooted.InstalledSequence);
        Assert.NotNull(rebooted.ActiveModel);
        Assert.Equal(UpdateError.Rollback, rebooted.Install(manifest, v1, 100).Error); // the same release twice

        // Golden rows must fit the model: 36 features per row, 1..64 rows.
        Assert.Throws<ArgumentException>(() => UpdateManifest.Describe(v1, 2, UpdateCases.NodeId, new float[35]));
        Assert.Throws<ArgumentException>(() => UpdateManifest.Describe(v1, 2, UpdateCases.NodeId, new float[65 * 36]));
    }

    [Fact]
    public void A_chunk_without_an_offer_or_for_another_release_is_refused()
    {
        ModelUpdater node = UpdateCases.Node(new FaultyStorage());
        Assert.Equal(UpdateError.NoUpdate, node.Chunk(1, 0, new byte[4], 0, 4).Error);
        node.Offer(UpdateCases.Manifest(V1, 1, Golden, false));
        Assert.Equal(UpdateError.BadChunk, node.Chunk(9, 0, new byte[4], 0, 4).Error);
        Assert.Equal(UpdateError.BadChunk, node.Chunk(1, V1.Length - 2, new byte[4], 0, 4).Error);
    }
}
