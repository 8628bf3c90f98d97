using System;
using System.IO;
using System.Threading.Tasks;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Host;
using TinyMlops.Firmware.Host.Simulation;

namespace TinyMlops.TestBed;

/// <summary>
/// A simulated ESP32 node: the firmware core's <see cref="NodeController"/> (the device's code) configured from its
/// board profile as provisioning configures a device, with its own storage folder (A/B model slots, boot count),
/// replaying a recording through <see cref="ReplayAccelerometer"/>, and speaking the device wire protocol over MQTT
/// to a real broker through <see cref="NodeRunner"/>. The gateway tests use it; the benchmark and the fleet
/// simulator are to. Dispose to stop it (the broker then publishes its last will).
/// </summary>
public sealed class SimulatedNode : IAsyncDisposable
{
    private SimulatedNode(NodeRunner runner, ReplayAccelerometer sensor, string folder)
    {
        Runner = runner;
        Sensor = sensor;
        Folder = folder;
    }

    /// <summary>The runner (and through it the controller and its counters).</summary>
    public NodeRunner Runner { get; }

    /// <summary>The controller.</summary>
    public NodeController Controller => Runner.Controller;

    /// <summary>The replayed sensor (set <see cref="ReplayAccelerometer.Failing"/> to fail its reads).</summary>
    public ReplayAccelerometer Sensor { get; }

    /// <summary>The node's storage folder: <c>models/</c> (slots, boot record) and <c>state/</c> (boot count).</summary>
    public string Folder { get; }

    /// <summary>The model store under <paramref name="folder"/> a node there boots from (to install a model before it starts).</summary>
    public static IModelStorage Models(string folder) => new FileModelStorage(Path.Combine(folder, "models"));

    /// <summary>
    /// Starts node <paramref name="nodeId"/> on <paramref name="board"/>, logging in to the broker at
    /// <paramref name="host"/>:<paramref name="port"/> with <paramref name="password"/>, replaying
    /// <paramref name="x"/>, <paramref name="y"/>, <paramref name="z"/> (g) at <paramref name="speed"/> times the board's rate.
    /// </summary>
    public static SimulatedNode Start(BoardProfile board, string nodeId, string password, byte[] key, string folder, float[] x, float[] y, float[] z, string host, int port, double speed = 1, int telemetrySeconds = 60, Action<string>? log = null)
    {
        NodeConfig config = HostNodeConfig.FromBoard(board, nodeId, key, password, host, port, null, telemetrySeconds);
        var sensor = new ReplayAccelerometer(x, y, z);
        var runner = new NodeRunner(config, sensor, Models(folder), new FileModelStorage(Path.Combine(folder, "state")), null,
            new NodeRunnerOptions { Host = host, Port = port, Password = password, Speed = speed }, log);
        runner.Start();
        return new SimulatedNode(runner, sensor, folder);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Runner.DisposeAsync();
}
