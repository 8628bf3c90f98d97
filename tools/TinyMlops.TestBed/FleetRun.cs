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
/// <param name="Windows">Windows the nodes completed while it was shown.</param>
/// <param name="Events">Windows the nodes' detectors flagged and sent to the gateway.</param>
/// <param name="Verdicts">Of those, the ones the gateway answered.</param>
/// <param name="Confirmed">Verdicts that said fault (an alarm).</param>
public sealed record ConditionScore(string Condition, long Windows, long Events, long Verdicts, long Confirmed);

/// <summary>One recording a node was shown (from its schedule, up to the node's sample time) and the alarms raised on it.</summary>
public sealed record FleetEpisode(string Node, string Track, string Condition, long Alarms);

/// <summary>One node at the end of a run.</summary>
public sealed record FleetNodeReport(string Id, string Board, bool Connected, uint Boot, long Windows, long Suspicious, long EventsSent, long EventsAcknowledged, long Verdicts,
    uint ModelVersion, long InstalledSequence, string UpdateState, string Condition, string Baseline);

/// <summary>
/// Runs a fleet of simulated nodes: each runs the firmware core's controller (the device's code) with its board
/// profile, its own identity and storage folder (A/B slots, boot record), a <see cref="ScenarioSensor"/> following
/// its schedule, and the device wire protocol over MQTT to a real broker; all share one scheduler. It scores what
/// the nodes were shown against what they sent and what the gateway answered: each event is counted under the
/// condition its node's sensor showed when it was sent, and each verdict under its event's. A window that straddles a
/// switch of recording is counted under the one shown when it completed. Thread-safe.
/// </summary>
public sealed class FleetRun : IAsyncDisposable, INodeTraffic
{
    private readonly List<Slot> _nodes = [];
    private readonly ConcurrentDictionary<(string Node, uint Sequence), (string Condition, string Track)> _eventCondition = new();
    private readonly ConcurrentDictionary<(string Node, string Track), long> _alarmsByTrack = new();
    private readonly ConcurrentDictionary<(string Node, uint Boot, uint Sequence), byte> _counted = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _events = Task.CompletedTask;
    private readonly ConcurrentDictionary<(string Node, string Condition), long[]> _tallies = new(); // events, verdicts, confirmed
    private readonly Dictionary<string, int> _byId = new(StringComparer.Ordinal);
    private readonly NodeScheduler _scheduler;

    private FleetRun(int workers) => _scheduler = new NodeScheduler(workers, "fleet");

    /// <summary>Power cycles so far (<c>reset</c> and <c>reset-on-download</c> events that happened).</summary>
    public int Resets => _resets;

    private int _resets;

    /// <summary>
    /// Starts <paramref name="nodes"/> against the broker at <paramref name="host"/>:<paramref name="port"/>:
    /// identities from <paramref name="identities"/>, each node's storage under <paramref name="folder"/>, its tracks
    /// at its board's rate from <paramref name="tracks"/>, <paramref name="model"/> installed as release 1 where a
    /// node has none yet (null: new nodes start empty and wait for their first model over the air), replayed at
    /// <paramref name="speed"/> times real time; <paramref name="held"/> nodes wait for <see cref="Release"/>.
    /// </summary>
    public static FleetRun Start(IReadOnlyList<FleetNode> nodes, IReadOnlyDictionary<string, FleetIdentity> identities, Func<BoardProfile, IReadOnlyList<SensorTrack>> tracks,
        byte[]? model, string folder, string host, int port, double speed, Action<string>? log = null, bool held = false)
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
            if (model != null && !Directory.Exists(Path.Combine(nodeFolder, "models")))
            {
                // A new node, as provisioning leaves it; one that ran before boots from what it kept (A/B slots).
                SimulatedNode.Install(nodeFolder, board, n.Id, id.Key, model, 1);
            }

            var sensor = new ScenarioSensor(trackSets[n.Board], n.Schedule, board.Sampling!.SampleRateHz) { Held = held, WindowLength = board.Sampling.WindowLength };
            NodeConfig config = HostNodeConfig.FromBoard(board, n.Id, id.Key, id.Password, host, port, null, 30);
            var options = new NodeRunnerOptions { Host = host, Port = port, Password = id.Password, Speed = speed, Scheduler = run._scheduler, Traffic = run };
            var slot = new Slot(n, sensor, board.Sampling.SampleRateHz, () =>
                new NodeRunner(config, sensor, SimulatedNode.Models(nodeFolder), new FileModelStorage(Path.Combine(nodeFolder, "state")), null, options, log));
            slot.Runner.Start();
            run._byId[n.Id] = run._nodes.Count;
            run._nodes.Add(slot);
        }

        run._events = Task.Run(() => run.RunEventsAsync(run._stop.Token));
        return run;
    }

    /// <summary>Starts every held node's schedule (see <see cref="ScenarioSensor.Held"/>): from now on its windows are scored.</summary>
    public void Release()
    {
        foreach (Slot slot in _nodes)
        {
            slot.Sensor.Held = false;
        }
    }

    /// <summary>The least recording time any node has replayed so far, in seconds.</summary>
    public double MinSampleSeconds => _nodes.Count == 0 ? 0 : _nodes.Min(n => n.Sensor.Reads / n.RateHz);

    /// <summary>Applies each node's events as its sample time reaches them (a power cycle replaces its runner on the same storage).</summary>
    private async Task RunEventsAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (Slot slot in _nodes)
                {
                    double now = slot.Sensor.Reads / slot.RateHz;
                    while (slot.NextEvent < slot.Spec.Events.Count && slot.Spec.Events[slot.NextEvent].AtSeconds <= now)
                    {
                        string kind = slot.Spec.Events[slot.NextEvent++].Kind;
                        switch (kind)
                        {
                            case "link-down" or "link-up":
                                slot.Runner.LinkDown = slot.LinkDown = kind == "link-down";
                                break;
                            case "clock-unset" or "clock-set":
                                slot.Runner.ClockUnset = slot.ClockUnset = kind == "clock-unset";
                                break;
                            case "reset":
                                await slot.ResetAsync().ConfigureAwait(false);
                                Interlocked.Increment(ref _resets);
                                break;
                            case "reset-on-download":
                                slot.ResetOnDownload = true;
                                break;
                        }
                    }

                    // Cut off at its offer (see Received), the node goes down once it has staged the offer and is downloading.
                    if (slot.CutAt is { } cut && (slot.Runner.Controller.Updater.State == UpdateState.Downloading || DateTime.UtcNow - cut > TimeSpan.FromSeconds(2)))
                    {
                        slot.CutAt = null;
                        await slot.ResetAsync().ConfigureAwait(false);
                        Interlocked.Increment(ref _resets);
                    }
                }

                await Task.Delay(50, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Each node as it stands now.</summary>
    public IReadOnlyList<FleetNodeReport> Nodes() => _nodes.Select(n =>
    {
        NodeController c = n.Runner.Controller;
        return new FleetNodeReport(n.Spec.Id, n.Spec.Board, n.Runner.IsConnected, c.Boot, c.Pipeline.Windows, c.Pipeline.Suspicious, c.EventsSent, c.EventsAcknowledged, c.VerdictsReceived,
            c.Updater.ActiveModel?.Header.ModelVersion ?? 0, c.Updater.InstalledSequence, StateName(c.Updater.State), n.Sensor.Condition,
            c.Pipeline.Baseline is not { } b ? "none" : b.IsReady ? "learned" : $"learning {b.Learned}/{b.Windows}");
    }).ToList();

    /// <summary>True when every node that keeps a healthy baseline has learned it.</summary>
    public bool BaselinesLearned => _nodes.All(n => n.Runner.Controller.Pipeline.Baseline is not { IsReady: false });

    /// <summary>What each condition came to so far, over the fleet or on node <paramref name="node"/> alone.</summary>
    public IReadOnlyList<ConditionScore> Scores(string? node = null)
    {
        var windows = new Dictionary<string, long>(StringComparer.Ordinal);
        var tallies = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (((string n, string c), long[] t) in _tallies)
        {
            if (node == null || n == node)
            {
                long[] sum = tallies.TryGetValue(c, out long[]? s) ? s : tallies[c] = new long[3];
                for (int i = 0; i < sum.Length; i++)
                {
                    sum[i] += Interlocked.Read(ref t[i]);
                }
            }
        }

        foreach (Slot slot in _nodes.Where(n => node == null || n.Spec.Id == node))
        {
            foreach ((string condition, long completed) in slot.Sensor.WindowsByCondition())
            {
                windows[condition] = windows.GetValueOrDefault(condition) + completed;
            }
        }

        return windows.Keys.Concat(tallies.Keys).Distinct().Order(StringComparer.Ordinal).Select(c =>
        {
            long[] t = tallies.GetValueOrDefault(c) ?? new long[3];
            return new ConditionScore(c, windows.GetValueOrDefault(c), t[0], t[1], t[2]);
        }).ToList();
    }

    /// <summary>Every recording each node has been shown so far (its schedule's steps it reached), with the alarms on it.</summary>
    public IReadOnlyList<FleetEpisode> Episodes() => _nodes.Where(n => n.Sensor.Reads > 0).SelectMany(n =>
    {
        double now = n.Sensor.Reads / n.RateHz;
        return n.Spec.Schedule.Where(step => step.Play != null && step.AtSeconds <= now).Select(step => step.Play!).Distinct(StringComparer.Ordinal)
            .Select(track => new FleetEpisode(n.Spec.Id, track, n.Sensor.ConditionOf(track), _alarmsByTrack.GetValueOrDefault((n.Spec.Id, track))));
    }).ToList();

    /// <inheritdoc />
    public void Sent(string nodeId, string topic, byte[] payload)
    {
        if (!topic.EndsWith("/up/event", StringComparison.Ordinal) || Find(nodeId) is not { } node || node.Sensor.Held)
        {
            return;
        }

        try
        {
            // A resend after a reconnect is the same event (node, boot, sequence): counted once. The verdict names only
            // the sequence, so it is matched to the newest event of that sequence.
            if (WireCodec.Decode(payload, 0, payload.Length) is EventMessage e && _counted.TryAdd((nodeId, e.Boot, e.Sequence), 0))
            {
                _eventCondition[(nodeId, e.Sequence)] = (node.Sensor.Condition, node.Sensor.Track);
                Interlocked.Increment(ref Tally(nodeId, node.Sensor.Condition)[0]);
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
        if (topic.EndsWith("/down/ota-offer", StringComparison.Ordinal) && Find(nodeId) is { ResetOnDownload: true } due)
        {
            // A download is a few packets and can finish between two looks at the node's state: the link goes at the
            // offer, before any chunk can arrive, and the power cycle follows once the offer is staged.
            due.ResetOnDownload = false;
            due.Runner.LinkDown = true;
            due.CutAt = DateTime.UtcNow;
            return;
        }

        if (!topic.EndsWith("/down/verdict", StringComparison.Ordinal))
        {
            return;
        }

        try
        {
            if (WireCodec.Decode(payload, 0, payload.Length) is VerdictMessage v && _eventCondition.TryRemove((nodeId, v.EventSequence), out (string Condition, string Track) shown))
            {
                long[] t = Tally(nodeId, shown.Condition);
                Interlocked.Increment(ref t[1]);
                if (v.IsFault)
                {
                    Interlocked.Increment(ref t[2]);
                    _alarmsByTrack.AddOrUpdate((nodeId, shown.Track), 1, (_, n) => n + 1);
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
        await _stop.CancelAsync().ConfigureAwait(false);
        await _events.ConfigureAwait(false);
        foreach (Slot slot in _nodes)
        {
            await slot.Runner.DisposeAsync().ConfigureAwait(false);
        }

        _scheduler.Dispose();
        _stop.Dispose();
    }

    // Written only while starting, before any traffic: read without a lock.
    private Slot? Find(string nodeId) => _byId.TryGetValue(nodeId, out int i) ? _nodes[i] : null;

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

    private long[] Tally(string node, string condition) => _tallies.GetOrAdd((node, condition), _ => new long[3]);

    /// <summary>One node: its spec, its sensor (which outlives a power cycle: the world goes on), and its current runner.</summary>
    private sealed class Slot(FleetNode spec, ScenarioSensor sensor, double rateHz, Func<NodeRunner> boot)
    {
        private volatile NodeRunner _runner = boot();

        public FleetNode Spec { get; } = spec;

        public ScenarioSensor Sensor { get; } = sensor;

        public double RateHz { get; } = rateHz;

        public NodeRunner Runner => _runner;

        public int NextEvent { get; set; }

        public bool LinkDown { get; set; }

        public bool ClockUnset { get; set; }

        private long _cutTicks;
        private volatile bool _resetOnDownload;

        /// <summary>A <c>reset-on-download</c> waits for the node's next offer (set by the events loop, read by the traffic hook).</summary>
        public bool ResetOnDownload
        {
            get => _resetOnDownload;
            set => _resetOnDownload = value;
        }

        /// <summary>When the node's link was cut for its <c>reset-on-download</c> (null: none due); any thread.</summary>
        public DateTime? CutAt
        {
            get => Interlocked.Read(ref _cutTicks) is var t and not 0 ? new DateTime(t, DateTimeKind.Utc) : null;
            set => Interlocked.Exchange(ref _cutTicks, value?.Ticks ?? 0);
        }

        /// <summary>A power cycle: the runner stops, and a new one boots (the next boot count) from what the node's storage kept.</summary>
        public async Task ResetAsync()
        {
            await _runner.DisposeAsync().ConfigureAwait(false);
            NodeRunner next = boot();
            Sensor.RestartCapture(); // the new boot's first window starts with its first sample
            next.LinkDown = LinkDown;
            next.ClockUnset = ClockUnset;
            next.Start();
            _runner = next;
        }
    }
}
