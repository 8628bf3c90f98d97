using System;
using System.Collections.Generic;
using System.Threading;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Firmware.Host.Simulation;

/// <summary>One replayable recording at the node's sample rate (g per axis).</summary>
/// <param name="Name">How a schedule names it (the recording's id).</param>
/// <param name="Condition">What it is: <c>healthy</c> or the fault's label, the ground truth of its windows.</param>
/// <param name="LoopFrom">Where the track starts again after its end (a node's baseline learned from the samples before it never sees them again).</param>
public sealed record SensorTrack(string Name, string Condition, float[] X, float[] Y, float[] Z, int LoopFrom = 0);

/// <summary>What a sensor does from a point in time: play a track, and/or start or end a fault.</summary>
/// <param name="AtSeconds">Sample time since the start, in seconds (samples read / sample rate).</param>
/// <param name="Play">Track to switch to (null: keep the current one).</param>
/// <param name="Fault">Fault from then on (null: keep the current one; <see cref="SensorFault.None"/> ends it).</param>
public sealed record SensorStep(double AtSeconds, string? Play, SensorFault? Fault);

/// <summary>Faults a real sensor has, as a node sees them.</summary>
public enum SensorFault
{
    /// <summary>Working.</summary>
    None,

    /// <summary>The same sample again and again (a stuck register, a sensor that stopped converting).</summary>
    Stuck,

    /// <summary>Not-a-number samples (a broken conversion, garbage on the bus).</summary>
    NaN,

    /// <summary>Every read fails (a disconnected sensor, a bus fault).</summary>
    Fail,
}

/// <summary>
/// A sensor that follows a schedule in sample time: it replays one track at a time, each from where it last stopped
/// (and from its start again at its end), switching tracks and starting or ending faults at the steps' times. Time
/// is samples read divided by the sample rate, so a run is the same however fast the host replays it.
/// <see cref="Condition"/> says what the node is being shown now, for scoring what it detected. Read by one
/// sampling thread; <see cref="Condition"/> and <see cref="Fault"/> may be read from any.
/// </summary>
public sealed class ScenarioSensor : IAccelerometer
{
    private readonly Dictionary<string, SensorTrack> _tracks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _positions = new(StringComparer.Ordinal);
    private readonly List<string> _conditions = [];
    private readonly long[] _windowsByCondition;
    private long _captured; // every sample read, held ones too: the node's capture puts each into a window
    private readonly SensorStep[] _steps;
    private readonly double _rateHz;
    private readonly float[] _last = new float[3];
    private SensorTrack _track;
    private volatile string _trackName;
    private int _nextStep;
    private volatile string _condition;
    private int _conditionIndex;
    private volatile int _fault;

    /// <summary>
    /// A sensor over <paramref name="tracks"/> following <paramref name="steps"/> (in time order; the first plays at
    /// 0 s) at <paramref name="rateHz"/> samples per second; throws <see cref="ArgumentException"/> naming a step that
    /// plays an unknown track or goes back in time.
    /// </summary>
    public ScenarioSensor(IEnumerable<SensorTrack> tracks, IReadOnlyList<SensorStep> steps, double rateHz)
    {
        foreach (SensorTrack t in tracks)
        {
            if (t.X.Length == 0 || t.Y.Length != t.X.Length || t.Z.Length != t.X.Length || t.LoopFrom < 0 || t.LoopFrom >= t.X.Length)
            {
                throw new ArgumentException($"track '{t.Name}' has no samples, axes of different lengths, or a loop start outside it");
            }

            _tracks[t.Name] = t;
            _positions[t.Name] = 0;
            if (!_conditions.Contains(t.Condition))
            {
                _conditions.Add(t.Condition);
            }
        }

        _windowsByCondition = new long[_conditions.Count];

        if (!(rateHz > 0))
        {
            throw new ArgumentException($"the sample rate must be positive, not {rateHz}");
        }

        if (steps.Count == 0 || steps[0].AtSeconds != 0 || steps[0].Play == null)
        {
            throw new ArgumentException("a schedule starts with a step at 0 s that plays a track");
        }

        for (int i = 0; i < steps.Count; i++)
        {
            if (steps[i].Play is { } play && !_tracks.ContainsKey(play))
            {
                throw new ArgumentException($"step {i} plays '{play}', which is not one of the tracks ({string.Join(", ", _tracks.Keys)})");
            }

            if (i > 0 && !(steps[i].AtSeconds >= steps[i - 1].AtSeconds))
            {
                throw new ArgumentException($"step {i} at {steps[i].AtSeconds} s comes before step {i - 1} at {steps[i - 1].AtSeconds} s");
            }
        }

        _steps = [.. steps];
        _rateHz = rateHz;
        _track = _tracks[steps[0].Play!];
        _trackName = _track.Name;
        _condition = _track.Condition;
        _conditionIndex = _conditions.IndexOf(_condition);
    }

    /// <summary>Samples asked for so far (failed reads included: time passes for a broken sensor too), held ones not.</summary>
    public long Reads { get; private set; }

    /// <summary>
    /// While true the schedule's clock stands still: the first step's track plays, and nothing read counts as shown
    /// (a node that is still being commissioned, whose windows are not scored). Any thread may set it.
    /// </summary>
    public bool Held
    {
        get => _held;
        set => _held = value;
    }

    private volatile bool _held;

    /// <summary>The condition the node is shown now (the current track's), for scoring.</summary>
    public string Condition => _condition;

    /// <summary>The condition of track <paramref name="name"/>.</summary>
    public string ConditionOf(string name) => _tracks[name].Condition;

    /// <summary>The track the node is shown now (any thread).</summary>
    public string Track => _trackName;

    /// <summary>The fault in force now.</summary>
    public SensorFault Fault => (SensorFault)_fault;

    /// <summary>
    /// Samples per window of the node reading this sensor, which captures windows back to back from its first read:
    /// with it set, <see cref="WindowsByCondition"/> counts each window under the condition shown when it completed,
    /// as the node's event for it is scored (0: windows are not counted).
    /// </summary>
    public int WindowLength { get; init; }

    /// <summary>The node rebooted: its capture starts a new window with the next sample (sampling thread, between runners).</summary>
    public void RestartCapture() => _captured = 0;

    /// <summary>Windows completed while each condition was shown, held ones not (any thread; needs <see cref="WindowLength"/>).</summary>
    public IEnumerable<KeyValuePair<string, long>> WindowsByCondition()
    {
        for (int i = 0; i < _conditions.Count; i++)
        {
            yield return new KeyValuePair<string, long>(_conditions[i], Interlocked.Read(ref _windowsByCondition[i]));
        }
    }

    /// <inheritdoc />
    public bool TryRead(float[] xyz)
    {
        bool completesWindow = WindowLength > 0 && ++_captured % WindowLength == 0;
        if (_held)
        {
            Replay(xyz);
            return true;
        }

        double now = Reads / _rateHz;
        while (_nextStep < _steps.Length && _steps[_nextStep].AtSeconds <= now)
        {
            SensorStep s = _steps[_nextStep++];
            if (s.Play != null)
            {
                _track = _tracks[s.Play];
                _trackName = _track.Name;
                _condition = _track.Condition;
                _conditionIndex = _conditions.IndexOf(_condition);
            }

            if (s.Fault is { } f)
            {
                _fault = (int)f;
            }
        }

        Reads++;
        if (completesWindow)
        {
            Interlocked.Increment(ref _windowsByCondition[_conditionIndex]);
        }

        switch ((SensorFault)_fault)
        {
            case SensorFault.Fail:
                return false;
            case SensorFault.Stuck:
                xyz[0] = _last[0];
                xyz[1] = _last[1];
                xyz[2] = _last[2];
                return true;
            case SensorFault.NaN:
                xyz[0] = xyz[1] = xyz[2] = float.NaN;
                return true;
        }

        Replay(xyz);
        return true;
    }

    private void Replay(float[] xyz)
    {
        int i = _positions[_track.Name];
        xyz[0] = _last[0] = _track.X[i];
        xyz[1] = _last[1] = _track.Y[i];
        xyz[2] = _last[2] = _track.Z[i];
        _positions[_track.Name] = i + 1 == _track.X.Length ? _track.LoopFrom : i + 1;
    }
}
