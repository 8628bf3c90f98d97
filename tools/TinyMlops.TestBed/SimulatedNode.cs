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
/// to a real broker through <see cref="NodeRunner"/>. The gateway tests and the gateway benchmark use it (a fleet
/// shares one <see cref="NodeScheduler"/>). Dispose to stop it (the broker then publishes its last will).
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
    /// <paramref name="x"/>, <paramref name="y"/>, <paramref name="z"/> (g) from sample <paramref name="replayFrom"/> at
    /// <paramref name="speed"/> times the board's rate, on <paramref name="scheduler"/>'s threads (null: its own), its
    /// models in <paramref name="models"/> (null: the folder's <see cref="Models"/>).
    /// </summary>
    public static SimulatedNode Start(BoardProfile board, string nodeId, string password, byte[] key, string folder, float[] x, float[] y, float[] z, string host, int port,
        double speed = 1, int telemetrySeconds = 60, Action<string>? log = null, NodeScheduler? scheduler = null, INodeTraffic? traffic = null, int replayFrom = 0,
        IModelStorage? models = null)
    {
        NodeConfig config = HostNodeConfig.FromBoard(board, nodeId, key, password, host, port, null, telemetrySeconds);
        var sensor = new ReplayAccelerometer(x, y, z, replayFrom);
        var runner = new NodeRunner(config, sensor, models ?? Models(folder), new FileModelStorage(Path.Combine(folder, "state")), null,
            new NodeRunnerOptions { Host = host, Port = port, Password = password, Speed = speed, Scheduler = scheduler, Traffic = traffic }, log);
        runner.Start();
        return new SimulatedNode(runner, sensor, folder);
    }

    /// <summary>
    /// Installs <paramref name="model"/> as release <paramref name="sequence"/> into the node storage under
    /// <paramref name="folder"/>, as provisioning does before first boot: a manifest signed with the node's
    /// <paramref name="key"/>, fed through the core's update state machine under the board's class and slot size,
    /// digest and golden-vector self-test included (on <paramref name="golden"/>, a release's golden inputs, or rows of
    /// its own). Throws <see cref="InvalidOperationException"/> with the node's
    /// reason when it refuses.
    /// </summary>
    public static void Install(string folder, BoardProfile board, string nodeId, byte[] key, byte[] model, uint sequence, float[]? golden = null)
    {
        if (golden == null)
        {
            int inputs = Firmware.Core.Models.Int8Model.ReadHeader(model).InputLength;
            golden = new float[GoldenRows * inputs];
            for (int i = 0; i < golden.Length; i++)
            {
                golden[i] = (float)(2 * Math.Sin(i * 0.37)); // spread over the quantiser's range, the same every time
            }
        }

        byte[] manifest = UpdateManifest.Describe(model, sequence, nodeId, golden).EncodeAndSign(key);
        var updater = new ModelUpdater(Models(folder), key, nodeId, board.BoardClass, board.Memory.ModelFlashBytes, board.Memory.ModelRamBytes);
        updater.Boot();
        Firmware.Core.Wire.OtaStatusMessage s = updater.Install(manifest, model, Firmware.Core.Wire.WireCodec.MaxChunk);
        if (s.State != UpdateState.Confirmed)
        {
            throw new InvalidOperationException($"node {nodeId} refused release {sequence}: {updater.LastMessage} (error {s.Error})");
        }
    }

    private const int GoldenRows = 4;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Runner.DisposeAsync();
}
