using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Firmware.Host;
using TinyMlops.Firmware.Host.Simulation;

namespace TinyMlops.TestBed;

/// <summary>A fleet node's identity, as provisioning made it.</summary>
public sealed record FleetIdentity(string Password, byte[] Key);

/// <summary>What one condition (a recording's label) came to across the fleet.</summary>
/// <param name="Windows">Windows the nodes were shown of it (sensor samples ÷ window length).</param>
/// <param name="Events">Windows the nodes' detectors flagged and sent to the gateway.</param>
/// <param name="Verdicts">Of those, the ones the gateway answered.</param>
/// <param name="Confirmed">Verdicts that said fault (an alarm).</param>
public sealed record ConditionScore(string Condition, long Windows, long Events, long Verdicts, long Confirmed);

/// <summary>One node at the end of a run.</summary>
public sealed record FleetNodeReport(string Id, string Board, bool Connected, long Windows, long Suspicious, long EventsSent, long EventsAcknowledged, long Verdicts,
    uint ModelVersion, long InstalledSequence, string UpdateState, string Condition);

/// <summary>
/// Runs a fleet of simulated nodes: each runs the firmware core's controller (the device's code) with its board
/// profile, its own identity and storage folder (A/B slots, boot record), a <see cref="ScenarioSensor"/> following
/// its schedule, and the device wire protocol over MQTT to a real broker; all share one scheduler. It scores what
/// the nodes were shown against what they sent and what the gateway answered: each event is counted under the
/// condition its node's sensor showed when it was sent, and each verdict under its event's. Windows that straddle a
/// switch of recording are counted under the newer one. Thread-safe.
/// </summary>
public sealed class FleetRun : IAsyncDisposable, INodeTraffic
{
    private readonly List<(FleetNode Spec, NodeRunner Runner, ScenarioSensor Sensor, int Window)> _nodes = [];
    private readonly ConcurrentDictionary<(string Node, uint Sequence), string> _eventCondition = new();
    private readonly ConcurrentDictionary<string, long[]> _tallies = new(StringComparer.Ordinal); // events, verdicts, confirmed
    private readonly Dictionary<string, int> _byId = new(StringComparer.Ordinal);
    private readonly NodeScheduler _scheduler;

    private FleetRun(int workers) => _scheduler = new NodeScheduler(workers, "fleet");

    /// <summary>
    /// Starts <paramref name="nodes"/> against the broker at <paramref name="host"/>:<paramref name="port"/>:
    /// identities from <paramref name="identities"/>, each node's storage under <paramref name="folder"/>, its tracks
    /// at its board's rate from <paramref name="tracks"/>, <paramref name="model"/> installed as release 1 where a
    /// node has none yet, replayed at <paramref name="speed"/> times real time.
    /// </summary>
    public static FleetRun Start(IReadOnlyList<FleetNode> nodes, IReadOnlyDictionary<string, FleetIdentity> identities, Func<BoardProfile, IReadOnlyList<SensorTrack>> tracks,
        byte[] model, string folder, string host, int port, double speed, Action<string>? log = null)
    {
        var run = new FleetRun(Math.Max(1, Environment.ProcessorCount));
        var boards = new Dictionary<string, BoardProfile>(StringComparer.Ordinal);
        var trackSets = new Dictionary<string, IReadOnlyList<SensorTrack>>(StringComparer.Ordinal);
        foreach (FleetNode n in nodes)
        {
            if (!boards.TryGetValue(n.Board, out BoardProfile? board))
            {
                board = boards[n.Board] = BoardProfile.Load(n.Board);
                trackSets[n.Board] = tracks(board);
            }

            FleetIdentity id = identities[n.Id];
            string nodeFolder = Path.Combine(folder, n.Id);
            if (!Directory.Exists(Path.Combine(nodeFolder, "models")))
            {
                // A new node, as provisioning leaves it; one that ran before boots from what it kept (A/B slots).
                SimulatedNode.Install(nodeFolder, board, n.Id, id.Key, model, 1);
            }

            var sensor = new ScenarioSensor(trackSets[n.Board], n.Schedule, board.Sampling!.SampleRateHz);
            NodeConfig config = HostNodeConfig.FromBoard(board, n.Id, id.Key, id.Password, host, port, null, 30);
            var runner = new NodeRunner(config, sensor, SimulatedNode.Models(nodeFolder), new FileModelStorage(Path.Combine(nodeFolder, "state")), null,
                new NodeRunnerOptions { Host = host, Port = port, Password = id.Password, Speed = speed, Scheduler = run._scheduler, Traffic = run }, log);
            runner.Start();
            run._byId[n.Id] = run._nodes.Count;
            run._nodes.Add((n, runner, sensor, board.Sampling.WindowLength));
        }

        return run;
    }

    /// <summary>Nodes connected to the broker now.</summary>
    public int Connected => _nodes.Count(n => n.Runner.IsConnected);

    /// <summary>Each node as it stands now.</summary>
    public IReadOnlyList<FleetNodeReport> Nodes() => _nodes.Select(n =>
    {
        NodeController c = n.Runner.Controller;
        return new FleetNodeReport(n.Spec.Id, n.Spec.Board, n.Runner.IsConnected, c.Pipeline.Windows, c.Pipeline.Suspicious, c.EventsSent, c.EventsAcknowledged, c.VerdictsReceived,
            c.Updater.ActiveModel?.Header.ModelVersion ?? 0, c.Updater.InstalledSequence, StateName(c.Updater.State), n.Sensor.Condition);
    }).ToList();

    /// <summary>What each condition came to so far.</summary>
    public IReadOnlyList<ConditionScore> Scores()
    {
        var windows = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach ((_, _, ScenarioSensor sensor, int window) in _nodes)
        {
            foreach ((string condition, long reads) in sensor.ReadsByCondition())
            {
                windows[condition] = windows.GetValueOrDefault(condition) + (reads / window);
            }
        }

        return windows.Keys.Concat(_tallies.Keys).Distinct().Order(StringComparer.Ordinal).Select(c =>
        {
            long[] t = _tallies.GetValueOrDefault(c) ?? new long[3];
            return new ConditionScore(c, windows.GetValueOrDefault(c), Interlocked.Read(ref t[0]), Interlocked.Read(ref t[1]), Interlocked.Read(ref t[2]));
        }).ToList();
    }

    /// <inheritdoc />
    public void Sent(string nodeId, string topic, byte[] payload)
    {
        if (!topic.EndsWith("/up/event", StringComparison.Ordinal) || Find(nodeId) is not { } node)
        {
            return;
        }

        try
        {
            if (WireCodec.Decode(payload, 0, payload.Length) is EventMessage e && _eventCondition.TryAdd((nodeId, e.Sequence), node.Sensor.Condition))
            {
                Interlocked.Increment(ref Tally(node.Sensor.Condition)[0]);
            }
        }
        catch (WireFormatException)
        {
            // The node's own frame: it decodes, or the wire tests fail long before this.
        }
    }

    /// <inheritdoc />
    public void Received(string nodeId, string topic, byte[] payload)
    {
        if (!topic.EndsWith("/down/verdict", StringComparison.Ordinal))
        {
            return;
        }

        try
        {
            if (WireCodec.Decode(payload, 0, payload.Length) is VerdictMessage v && _eventCondition.TryRemove((nodeId, v.EventSequence), out string? condition))
            {
                long[] t = Tally(condition);
                Interlocked.Increment(ref t[1]);
                if (v.IsFault)
                {
                    Interlocked.Increment(ref t[2]);
                }
            }
        }
        catch (WireFormatException)
        {
            // A malformed verdict is the node's to refuse; it is not scored.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach ((_, NodeRunner runner, _, _) in _nodes)
        {
            await runner.DisposeAsync().ConfigureAwait(false);
        }

        _scheduler.Dispose();
    }

    // Written only while starting, before any traffic: read without a lock.
    private (FleetNode Spec, NodeRunner Runner, ScenarioSensor Sensor, int Window)? Find(string nodeId) => _byId.TryGetValue(nodeId, out int i) ? _nodes[i] : null;

    private static string StateName(int state) => state switch
    {
        UpdateState.Idle => "idle",
        UpdateState.Downloading => "downloading",
        UpdateState.PendingVerify => "pending-verify",
        UpdateState.Confirmed => "confirmed",
        UpdateState.RolledBack => "rolled-back",
        UpdateState.Refused => "refused",
        _ => state.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private long[] Tally(string condition) => _tallies.GetOrAdd(condition, _ => new long[3]);
}
