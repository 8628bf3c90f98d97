using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.TestBed;
using TinyMlops.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Gateway.Tests;

/// <summary>The test bed's simulated ESP32 node (the device's controller, its board's budget) against a real gateway.</summary>
public class SimulatedNodeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_simulated_wroom_node_gets_its_events_verified_and_survives_a_sensor_fault()
    {
        BoardProfile wroom = BoardProfile.Load("esp32-wroom-32");
        string dir = Harness.Temp("gateway-sim");
        RunningGateway.Prepare(dir);
        File.WriteAllBytes(Path.Combine(dir, "verifier.onnx"), Harness.Verifier(1, features: 3 * (4 + wroom.Sampling!.Bands)));
        var passwords = new Dictionary<string, string>(Harness.Passwords) { [UpdateCases.NodeId] = "sim-secret" };
        NodeRegistry.Write(Path.Combine(dir, "nodes.json"), passwords, iterations: 1000);

        // Installed as provisioning would, through the update state machine, under the board's own class and budget.
        string folder = Path.Combine(dir, "node");
        byte[] model = Recordings.EveryWindowSuspicious(Checkout.FindRoot());
        SimulatedNode.Install(folder, wroom, UpdateCases.NodeId, UpdateCases.NodeKey, model, 1);

        (float[] x, float[] y, float[] z) = Recordings.Fan(Checkout.FindRoot());
        await using RunningGateway g = await RunningGateway.Start(dataDirectory: dir);
        await using SimulatedNode node = SimulatedNode.Start(wroom, UpdateCases.NodeId, "sim-secret", UpdateCases.NodeKey, folder,
            x, y, z, "127.0.0.1", g.MqttPort, speed: 2);

        await Harness.Eventually(() => Task.FromResult(node.Controller.VerdictsReceived), n => n >= 2, "two verdicts back at the simulated node", 30);
        Assert.NotNull(node.Controller.Updater.ActiveModel); // the wroom budget (interpreter speed, pipeline RAM) let it run

        // A sensor that stops answering: the windows are dropped and counted, nothing is sent for them, and the node
        // carries on once it answers again.
        uint dropped = node.Controller.Pipeline.Dropped, sent = node.Controller.EventsSent;
        node.Sensor.Failing = true;
        await Harness.Eventually(() => Task.FromResult(node.Controller.Pipeline.Dropped), n => n >= dropped + 2, "windows dropped while the sensor fails", 30);
        node.Sensor.Failing = false;
        await Harness.Eventually(() => Task.FromResult(node.Controller.EventsAcknowledged), n => n >= sent + 2, "events again after the sensor recovers", 30);
        output.WriteLine($"windows {node.Controller.Pipeline.Windows}, dropped {node.Controller.Pipeline.Dropped}, sent {node.Controller.EventsSent}, acknowledged {node.Controller.EventsAcknowledged}, verdicts {node.Controller.VerdictsReceived}, overruns {node.Controller.Capture.Overruns}");
    }
}
