using System;
using TinyMlops.Firmware.Core;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Tests.Shared;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>
/// The host build of the core runs against stand-ins that behave as nanoFramework's classes do where .NET's differ
/// (firmware/Core.HostShims). One test per difference: what the stand-in does, and that the core survives it.
/// </summary>
public class NanoSemanticsTests
{
    [Fact]
    public void The_HMAC_stand_in_keeps_the_callers_key_and_clears_it_on_dispose_as_nanoFramework_does()
    {
        byte[] key = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
        byte[] expected = System.Security.Cryptography.HMACSHA256.HashData(key, new byte[] { 42 });
        using (var h = new HMACSHA256(key))
        {
            Assert.Equal(expected, h.ComputeHash(new byte[] { 42 }));
        }

        Assert.All(key, b => Assert.Equal(0, b));
    }

    [Fact]
    public void The_node_key_survives_every_manifest_check_and_an_empty_key_never_signs_an_update()
    {
        byte[] key = (byte[])UpdateCases.NodeKey.Clone();
        int clearedBefore = HMACSHA256.KeysCleared;
        var node = new ModelUpdater(new FaultyStorage(), key, UpdateCases.NodeId, ModelFormat.BoardClassAny, UpdateCases.MaxModelBytes, 0);
        node.Boot();
        float[] golden = UpdateCases.Golden();
        byte[] v1 = UpdateCases.AsVersion(ModelLoaderTests.Blob("pca-36-6"), 1), v2 = UpdateCases.AsVersion(ModelLoaderTests.Blob("kmeans-36-8"), 2);

        Assert.Equal(UpdateState.Confirmed, UpdateCases.Deliver(node, UpdateCases.Manifest(v1, 1, golden, false), v1, 1).State);
        // With the key handed to HMACSHA256 as it was, this second genuine update was refused on the device: the
        // first check's Dispose had zeroed the node's key.
        OtaStatusMessageAssert(UpdateCases.Deliver(node, UpdateCases.Manifest(v2, 2, golden, false), v2, 2), UpdateState.Confirmed);
        Assert.True(HMACSHA256.KeysCleared > clearedBefore, "the core did not go through the nanoFramework stand-in");
        Assert.Equal(UpdateCases.NodeKey, key); // the caller's array is untouched too

        // HMAC pads keys with zeros: a cleared key would have made a manifest MAC'd with an empty key verify.
        Assert.Equal(UpdateError.None, UpdateManifest.TryParse(UpdateCases.Manifest(v1, 3, golden, false), UpdateCases.NodeKey, out UpdateManifest? m));
        byte[] forged = m!.EncodeAndSign(Array.Empty<byte>());
        Assert.Equal(UpdateError.BadSignature, node.Offer(forged).Error);
        Assert.Equal(UpdateError.BadSignature, node.Offer(m.EncodeAndSign(new byte[UpdateCases.NodeKey.Length])).Error);
    }

    private static void OtaStatusMessageAssert(Core.Wire.OtaStatusMessage s, int state) => Assert.True(s.State == state, $"state {s.State}, error {s.Error}");
}
