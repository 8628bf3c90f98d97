using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Releases;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>The node relay on its own, over a recording link: pacing, halting, silence, and a gateway restart.</summary>
public class NodeUpdateRelayTests
{
    [Fact]
    public async Task The_relay_paces_chunks_by_status_holds_while_halted_and_carries_on_after_a_restart()
    {
        string dir = Harness.Temp("relay-unit");
        string keysFile = Path.Combine(dir, "node-keys.json");
        byte[] key = new byte[32];
        NodeKeys.Register(keysFile, "node-1", key, 1);
        NodeKeys.Register(keysFile, "node-2", key, 1);
        byte[] model = TestBed.Recordings.EveryWindowSuspicious(Boards.Checkout.FindRoot(), 2);
        float[] golden = new float[36];
        var options = Options.Create(new GatewayOptions { Releases = new ReleaseOptions { ChunkBytes = 512, NodeTimeoutSeconds = 0.05, NodeAttempts = 3 } });
        var link = new RecordingLink();
        NodeUpdateRelay Relay() => new(options, new NodeKeys(keysFile), link, new GatewayMetrics(), NullLogger<NodeUpdateRelay>.Instance);

        NodeUpdateRelay relay = Relay();
        relay.Begin(1, 2, model, golden, dir);
        relay.Admit(["node-1", "node-2"]);
        await relay.TickAsync(default);
        Assert.Empty(link.Sent); // halted until the rollout says go
        relay.Halted = false;
        await relay.TickAsync(default);
        Assert.Equal(["tinymlops/node-1/down/ota-offer", "tinymlops/node-2/down/ota-offer"], link.Topics().Order());

        // The manifest is node-1's own, under its key; each status gets the chunk at the offset it names.
        byte[] offer = link.Sent.First(s => s.Topic.Contains("node-1")).Frame;
        Assert.Equal(UpdateError.None, UpdateManifest.TryParse(((OtaOfferMessage)WireCodec.Decode(offer, 0, offer.Length)).Manifest, key, out UpdateManifest? m));
        Assert.Equal(("node-1", 2u), (m!.NodeId, m.Sequence));
        link.Sent.Clear();
        await relay.OnStatusAsync("node-1", new OtaStatusMessage { ReleaseSequence = 2, State = UpdateState.Downloading, NextOffset = 512, InstalledSequence = 1 }, default);
        var chunk = (OtaChunkMessage)WireCodec.Decode(link.Sent.Single().Frame, 0, link.Sent.Single().Frame.Length);
        Assert.Equal((512, Math.Min(512, model.Length - 512)), (chunk.Offset, chunk.Data.Length));
        await relay.OnStatusAsync("node-1", new OtaStatusMessage { ReleaseSequence = 9, State = UpdateState.Downloading, NextOffset = 0 }, default);
        Assert.Single(link.Sent); // a status about another release is not an answer

        // Restart mid-download: node-1 is offered again (its status will say where it stands); node-2 keeps its offers.
        NodeUpdateRelay again = Relay();
        again.Begin(1, 2, model, golden, dir);
        Assert.Equal(["waiting", "waiting"], again.Snapshot().Select(n => n.State));
        Assert.Equal([1, 1], again.Snapshot().Select(n => n.Attempts));
        again.Halted = false;
        link.Sent.Clear();
        await again.TickAsync(default);
        Assert.Equal(2, link.Sent.Count);
        await again.OnStatusAsync("node-1", new OtaStatusMessage { ReleaseSequence = 2, State = UpdateState.Confirmed, InstalledSequence = 2 }, default);

        // node-2 never answers: offered again with back-off until its attempts run out.
        for (int i = 0; i < 40 && again.Snapshot().Single(n => n.Node == "node-2").State != "failed"; i++)
        {
            await Task.Delay(50);
            await again.TickAsync(default);
        }

        NodeUpdateStatus[] end = again.Snapshot().ToArray();
        Assert.Equal(("confirmed", "failed"), (end[0].State, end[1].State));
        Assert.Equal("no answer after 3 offers", end[1].LastError);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void The_release_state_survives_a_restart_and_a_corrupt_one_is_set_aside()
    {
        string dir = Harness.Temp("release-state");
        string file = Path.Combine(dir, "releases", "state.json");
        var state = new ReleaseState { HighestKeySequence = 2, InstalledSequence = 7, InstalledVersion = "esp32-wroom-32-7" };
        state.Refused[8] = "shadow: agreement 40.0 % on 200 windows is below the release's 90.0 %";
        state.Save(file);
        ReleaseState back = ReleaseState.Load(file);
        Assert.Equal((2, 7L, "esp32-wroom-32-7"), (back.HighestKeySequence, back.InstalledSequence, back.InstalledVersion));
        Assert.Equal(state.Refused[8], back.Refused[8]);
        Assert.Equal(new TinyMlops.Releases.ReleaseTrustState(2, 7), back.Trust);

        File.WriteAllText(file, "{\"installedSequence\": 7, \"refus"); // torn by a power cut
        ReleaseState fresh = ReleaseState.Load(file);
        Assert.Equal(0, fresh.InstalledSequence); // it fetches the newest release again; the checks still guard it
        Assert.True(File.Exists(file + ".corrupt"));
        Directory.Delete(dir, recursive: true);
    }

    private sealed class RecordingLink : INodeLink
    {
        public ConcurrentBag<(string Topic, byte[] Frame)> Sent { get; } = new();

        public bool IsConnected => true;

        public string[] Topics() => Sent.Select(s => s.Topic).ToArray();

        public Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken)
        {
            Sent.Add((topic, payload));
            return Task.CompletedTask;
        }
    }
}
