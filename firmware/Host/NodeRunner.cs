using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MQTTnet;
using MQTTnet.Protocol;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;

namespace TinyMlops.Firmware.Host;

/// <summary>
/// Runs the core's <see cref="NodeController"/> on a .NET host the way the nanoFramework app runs it on an ESP32:
/// samples paced on the clock by a sampling thread that never waits for evaluation, and every other controller call
/// (windows, downlink messages, acknowledgements, telemetry, reconnects) on one worker at a time. The threads are a
/// <see cref="NodeScheduler"/>'s: the runner's own unless <see cref="NodeRunnerOptions.Scheduler"/> shares one.
/// MQTT is MQTTnet: QoS 1 publishes whose PUBACKs come back to the controller, the downlink subscription, and a
/// retained last will. The runner owns neither the sensor nor the storage.
/// Start once with <see cref="Start"/>; <see cref="DisposeAsync"/> stops it and disconnects.
/// </summary>
public sealed class NodeRunner : IAsyncDisposable, INodeUplink, INodeClock
{
    internal const int Idle = 0;
    internal const int Queued = 1;
    internal const int Running = 2;
    internal const int RunningAgain = 3;

    private const int InboxLimit = 64; // a flood of downlink messages is dropped, not queued without bound

    private readonly NodeConfig _config;
    private readonly NodeRunnerOptions _options;
    private readonly Action<string> _log;
    private readonly IMqttClient _mqtt;
    private readonly ConcurrentQueue<(string? Topic, byte[]? Payload, int Acknowledged)> _inbox = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _sampleLock = new();
    private readonly object _workLock = new();
    private readonly double _samplesPerTimestamp;
    private NodeScheduler? _scheduler;
    private bool _ownsScheduler;
    private long _sampleStart;
    private long _samplesTaken;
    private int _nextMessageId;
    private long _sampleFailures;
    private long _nextTelemetry;
    private DateTime _connectAfter = DateTime.MinValue;
    private System.Threading.Tasks.Task<bool>? _connecting;
    private volatile bool _stopped;
    private volatile bool _online; // connected and the controller told so: only then do its publishes go out
    private volatile bool _linkDown;
    private volatile bool _clockUnset;

    /// <summary>Work state for the scheduler: idle, queued, running, or running with more asked for.</summary>
    internal int WorkState;

    /// <summary>A runner for the node <paramref name="config"/> describes, reading <paramref name="sensor"/>.</summary>
    public NodeRunner(NodeConfig config, IAccelerometer sensor, IModelStorage models, IModelStorage state, IAlarmOutput? alarm, NodeRunnerOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(sensor);
        options.Validate();
        _config = config;
        _options = options;
        _log = log ?? (_ => { });
        _samplesPerTimestamp = config.SampleRateHz * options.Speed / Stopwatch.Frequency;
        Controller = new NodeController(config, sensor, this, this, models, state, alarm, SystemFloatMath.Instance);
        _mqtt = new MqttClientFactory().CreateMqttClient();
        _mqtt.ApplicationMessageReceivedAsync += e =>
        {
            if (_inbox.Count < InboxLimit)
            {
                byte[] payload = e.ApplicationMessage.Payload.ToArray();
                _options.Traffic?.Received(_config.NodeId, e.ApplicationMessage.Topic, payload);
                _inbox.Enqueue((e.ApplicationMessage.Topic, payload, 0));
                _scheduler?.Schedule(this);
            }

            return Task.CompletedTask;
        };
    }

    /// <summary>The controller (its counters are safe to read from any thread).</summary>
    public NodeController Controller { get; }

    /// <summary>True while connected to the broker.</summary>
    public bool IsConnected => _mqtt.IsConnected;

    /// <summary>
    /// True: the node's network is gone (Wi-Fi lost, a cable pulled): the session is dropped without a goodbye and
    /// no reconnect is tried until it is false again. The controller keeps its events and resends them after.
    /// </summary>
    public bool LinkDown
    {
        get => _linkDown;
        set
        {
            _linkDown = value;
            if (value)
            {
                _online = false;
                _ = DropAsync();
            }
            else
            {
                _scheduler?.Schedule(this);
            }
        }
    }

    /// <summary>True: the node's wall clock is unset, as before SNTP answers after a boot (time since boot, from 1970).</summary>
    public bool ClockUnset
    {
        get => _clockUnset;
        set => _clockUnset = value;
    }

    /// <summary>Sensor reads that threw (counted, the sample becomes a dropped window as on the device).</summary>
    public long SampleFailures => Interlocked.Read(ref _sampleFailures);

    /// <summary>Boots the controller and starts sampling and work on the scheduler's threads.</summary>
    public void Start()
    {
        if (_scheduler != null)
        {
            throw new InvalidOperationException("the runner has already started");
        }

        Controller.Start();
        _log($"node {_config.NodeId}: boot {Controller.Boot}, model {(Controller.Updater.ActiveModel == null ? "none" : "release " + Controller.Updater.InstalledSequence)}");
        _ownsScheduler = _options.Scheduler == null;
        _sampleStart = Stopwatch.GetTimestamp();
        _scheduler = _options.Scheduler ?? new NodeScheduler(1, _config.NodeId);
        _scheduler.Add(this);
    }

    /// <inheritdoc />
    public int Publish(string topic, byte[] payload, int count)
    {
        if (!_online || !_mqtt.IsConnected)
        {
            return 0; // the controller keeps the message and sends it again after the next connect
        }

        int id = Interlocked.Increment(ref _nextMessageId) & int.MaxValue;
        id = id == 0 ? 1 : id;
        byte[] copy = payload.AsSpan(0, count).ToArray();
        _options.Traffic?.Sent(_config.NodeId, topic, copy);
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(copy)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        _ = PublishAsync(message, id);
        return id;
    }

    /// <inheritdoc />
    public long UnixMs() => _clockUnset ? (long)_clock.Elapsed.TotalMilliseconds : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <inheritdoc />
    public long Ticks() => _clock.Elapsed.Ticks;

    /// <summary>Stops sampling and work, and disconnects (the broker then publishes the last will).</summary>
    public async ValueTask DisposeAsync()
    {
        _stopped = true;
        _stop.Cancel();
        _scheduler?.Remove(this);
        lock (_sampleLock)
        {
            // a sweep that was sampling this runner has finished
        }

        lock (_workLock)
        {
            // so has a worker that was running it
        }

        if (_ownsScheduler)
        {
            _scheduler!.Dispose();
        }

        try
        {
            if (_connecting != null)
            {
                await _connecting;
            }

            if (_mqtt.IsConnected)
            {
                await _mqtt.DisconnectAsync();
            }
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException)
        {
            // already gone
        }

        _mqtt.Dispose();
        _stop.Dispose();
    }

    // Due samples follow the clock: after a stall the sweep catches up at once, so a window's samples are the ones
    // the period called for, and evaluation (on a worker) never holds sampling back.
    internal void SampleDue(long now)
    {
        long due = (long)((now - _sampleStart) * _samplesPerTimestamp);
        if (Volatile.Read(ref _samplesTaken) >= due)
        {
            return; // most calls in a sweep over a fleet: no lock taken
        }

        lock (_sampleLock)
        {
            if (_stopped || _samplesTaken >= due)
            {
                return;
            }

            bool ready = false;
            for (long taken = _samplesTaken; taken < due; taken++)
            {
                try
                {
                    ready |= Controller.Sample();
                }
                catch (Exception e) when (e is System.IO.IOException or InvalidOperationException or TimeoutException or UnauthorizedAccessException)
                {
                    Interlocked.Increment(ref _sampleFailures); // a bus that throws instead of failing the read
                }
            }

            Volatile.Write(ref _samplesTaken, due);
            if (ready)
            {
                _scheduler?.Schedule(this);
            }
        }
    }

    // One round of everything but sampling; the scheduler never runs two rounds of one runner at once.
    internal void Work()
    {
        lock (_workLock)
        {
            if (_stopped)
            {
                return;
            }

            if (_connecting is { IsCompleted: true })
            {
                bool connected = _connecting.Result;
                _connecting = null;
                if (connected)
                {
                    _online = true;
                    Controller.OnConnected(); // the update state, then every event still waiting for its acknowledgement
                    _log($"node {_config.NodeId}: connected to {_options.Host}:{_options.Port}");
                }
                else
                {
                    _connectAfter = DateTime.UtcNow + _options.ReconnectDelay;
                }
            }
            else if (_connecting == null && !_linkDown && !_mqtt.IsConnected && DateTime.UtcNow >= _connectAfter)
            {
                _online = false;
                _connecting = ConnectAsync();
                _connecting.ContinueWith(_ => _scheduler?.Schedule(this), TaskScheduler.Default);
            }

            Controller.ProcessWindows();
            while (_inbox.TryDequeue(out var item))
            {
                if (item.Topic == null)
                {
                    Controller.OnPublished(item.Acknowledged);
                }
                else
                {
                    Controller.OnMessage(item.Topic, item.Payload!);
                }
            }

            if (_connecting == null && _mqtt.IsConnected && Ticks() >= _nextTelemetry)
            {
                _nextTelemetry = Ticks() + (_config.TelemetrySeconds * TimeSpan.TicksPerSecond);
                Controller.SendTelemetry((uint)_clock.Elapsed.TotalSeconds, (uint)Math.Min(uint.MaxValue, GC.GetTotalMemory(false)), 0);
            }
        }
    }

    private async Task PublishAsync(MqttApplicationMessage message, int id)
    {
        try
        {
            MqttClientPublishResult r = await _mqtt.PublishAsync(message, _stop.Token);
            if (r.IsSuccess)
            {
                _inbox.Enqueue((null, null, id));
                _scheduler?.Schedule(this);
            }
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // Not acknowledged: the controller keeps the event and sends it again after the next connect.
        }
    }

    // A lost link ends the TCP session as a pulled cable would: the broker publishes the will once it notices.
    private async Task DropAsync()
    {
        try
        {
            await _mqtt.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.UnspecifiedError).Build());
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // already gone
        }
    }

    private async Task<bool> ConnectAsync()
    {
        try
        {
            MqttClientOptions o = new MqttClientOptionsBuilder().WithTcpServer(_options.Host, _options.Port).WithClientId(_config.NodeId)
                .WithCredentials(_config.NodeId, _options.Password).WithCleanSession(true).WithTimeout(TimeSpan.FromSeconds(10))
                .WithWillTopic(Controller.Topics.Status).WithWillPayload(Encoding.UTF8.GetBytes("offline")).WithWillRetain(true)
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            MqttClientConnectResult r = await _mqtt.ConnectAsync(o, _stop.Token);
            if (r.ResultCode != MqttClientConnectResultCode.Success)
            {
                _log($"node {_config.NodeId}: broker refused the login ({r.ResultCode})");
                return false;
            }

            await _mqtt.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(Controller.Topics.DownWildcard, MqttQualityOfServiceLevel.AtLeastOnce).Build(), _stop.Token);
            await _mqtt.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Controller.Topics.Status).WithPayload("online").WithRetainFlag(true)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), _stop.Token);
            return true;
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException or ObjectDisposedException)
        {
            _log($"node {_config.NodeId}: cannot reach {_options.Host}:{_options.Port} ({e.Message})");
            return false;
        }
    }
}
