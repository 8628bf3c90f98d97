using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Registry;
using TinyMlops.TestBed;
using TinyMlops.Tests.Common;
using TinyMlops.TrainerService;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>
/// <c>tinymlops flash</c> from bench to first telemetry: through a real trainer service (registration, champion) and a
/// real gateway, with a stand-in nanoff; the "device" is a simulated node booted from exactly the files flash staged
/// for nanoff's file deployment, logging in with the identity flash created.
/// </summary>
public class FlashEndToEndTests
{
    [Fact]
    public async Task A_flashed_node_logs_in_with_its_new_identity_runs_the_champion_and_flash_sees_its_first_telemetry()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the stand-in nanoff is a shell script
        }

        BoardProfile wroom = BoardProfile.Load("esp32-wroom-32");
        string root = Harness.Temp("flash-e2e");
        string registryDir = Path.Combine(root, "registry");
        long sequence = ChampionRegistry.Create(root, registryDir);

        // The trainer service, with an operator token for the technician.
        string tokens = Path.Combine(root, "operators"), mine = Path.Combine(root, "operator.token");
        SecretFile.WriteAllText(tokens, "bench-operator-token\n");
        SecretFile.WriteAllText(mine, "bench-operator-token");
        int trainerPort = Harness.FreePort();
        await using WebApplication trainer = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{trainerPort}",
            ["Trainer:Registry"] = registryDir,
            ["Trainer:OperatorTokenFile"] = tokens,
            ["Ingestion:StoreDirectory"] = Path.Combine(root, "store"),
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        await trainer.StartAsync();

        // The gateway: its nodes.json and node-keys.json are where flash registers the node.
        string gatewayDir = Path.Combine(root, "gateway");
        RunningGateway.Prepare(gatewayDir);
        File.WriteAllBytes(Path.Combine(gatewayDir, "verifier.onnx"), Harness.Verifier(1, features: 3 * (4 + wroom.Sampling!.Bands)));
        await using RunningGateway g = await RunningGateway.Start(dataDirectory: gatewayDir, tweak: s => s["Gateway:Releases:NodeKeysFile"] = Path.Combine(gatewayDir, "node-keys.json"));
        string gatewayToken = Path.Combine(root, "gateway.token");
        SecretFile.WriteAllText(gatewayToken, Harness.OperatorToken);

        string bin = Path.Combine(root, "bin");
        Directory.CreateDirectory(bin);
        File.WriteAllText(Path.Combine(bin, "nanoff"), "#!/bin/sh\necho \"nanoff stand-in: $*\"\n");
        File.SetUnixFileMode(Path.Combine(bin, "nanoff"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string? path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", bin + Path.PathSeparator + path);
        string outDir = Path.Combine(root, "out", "pump-9");
        try
        {
            Task<int> flash = Task.Run(() => Cli.Program.Main(
            [
                "flash", "--board", "esp32-wroom-32", "--port", "/dev/ttyUSB0", "--node", "pump-9", "--site", "hall C",
                "--wifi-ssid", "plant", "--mqtt-host", "127.0.0.1", "--mqtt-port", g.MqttPort.ToString(), "--mqtt-tls", "false",
                "--trainer", $"http://127.0.0.1:{trainerPort}/", "--token-file", mine,
                "--gateway", gatewayDir, "--gateway-id", "gw-test", "--gateway-url", g.Http.BaseAddress!.ToString(), "--gateway-token-file", gatewayToken,
                "--wait", "60", "--out", outDir,
            ]));

            // The device powers up once nanoff has written its files and flash has registered it.
            await Harness.Eventually(() => Task.FromResult(File.Exists(Path.Combine(outDir, "flash-state.json")) && File.ReadAllText(Path.Combine(outDir, "flash-state.json")).Contains("register")),
                done => done || flash.IsCompleted, "flash registered the node", seconds: 60);
            if (flash.IsCompleted)
            {
                Assert.Fail($"flash ended early with exit {await flash}");
            }

            NodeConfig config = NodeConfig.Parse(File.ReadAllText(Path.Combine(outDir, "node.cfg")));
            (float[] x, float[] y, float[] z) = Recordings.Fan(Checkout.FindRoot());
            await using SimulatedNode node = SimulatedNode.Start(wroom, config.NodeId, config.MqttPassword, config.NodeKey, outDir, x, y, z, "127.0.0.1", g.MqttPort, speed: 2, telemetrySeconds: 1);

            Assert.Equal(0, await flash.WaitAsync(TimeSpan.FromSeconds(90)));
            Assert.Equal((uint)sequence, node.Controller.Updater.InstalledSequence); // the champion flash installed
            Assert.NotNull(node.Controller.Updater.ActiveModel);
            using ModelRegistry registry = ModelRegistry.Open(registryDir);
            RegisteredNode registered = registry.Nodes("pump-9").Single();
            Assert.Equal(("gw-test", "hall C"), (registered.Gateway, registered.Site));
            Assert.Equal(config.NodeKey, new NodeKeys(Path.Combine(gatewayDir, "node-keys.json")).All["pump-9"].Key);

            // Listed through the trainer and the gateway; revoked through the trainer and in the gateway's files.
            string[] trainerArgs = ["--trainer", $"http://127.0.0.1:{trainerPort}/", "--token-file", mine];
            Assert.Equal(0, Cli.Program.Main(["nodes", .. trainerArgs, "--gateway-url", g.Http.BaseAddress!.ToString(), "--gateway-token-file", gatewayToken]));
            Assert.Equal(0, Cli.Program.Main(["nodes", "revoke", "pump-9", .. trainerArgs, "--gateway", gatewayDir]));
            Assert.Empty(registry.Nodes("pump-9"));
            Assert.False(new NodeRegistry(Path.Combine(gatewayDir, "nodes.json")).IsKnown("pump-9"));
            Assert.False(new NodeKeys(Path.Combine(gatewayDir, "node-keys.json")).All.ContainsKey("pump-9"));
            Assert.Equal(1, Cli.Program.Main(["nodes", "revoke", "pump-9", .. trainerArgs])); // nothing left to revoke
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
            await trainer.StopAsync();
        }
    }
}
