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
/// a sampling thread that paces <see cref="NodeController.Sample"/> on the clock and never waits for evaluation, and
/// one worker thread that owns every other controller call (windows, downlink messages, acknowledgements,
/// telemetry, reconnects). MQTT is MQTTnet: QoS 1 publishes whose PUBACKs come back to the controller, the downlink
/// subscription, and a retained last will. The runner owns neither the sensor nor the storage.
/// Start once with <see cref="Start"/>; <see cref="DisposeAsync"/> stops both threads and disconnects.
/// </summary>
public sealed class NodeRunner : IAsyncDisposable, INodeUplink, INodeClock
{
    private const int InboxLimit = 64; // a flood of downlink messages is dropped, not queued without bound

    private readonly NodeConfig _config;
    private readonly NodeRunnerOptions _options;
    private readonly Action<string> _log;
    private readonly IMqttClient _mqtt;
    private readonly ConcurrentQueue<(string? Topic, byte[]? Payload, int Acknowledged)> _inbox = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _nextMessageId;
    private Thread? _sampler;
    private Thread? _worker;
    private long _sampleFailures;

    /// <summary>A runner for the node <paramref name="config"/> describes, reading <paramref name="sensor"/>.</summary>
    public NodeRunner(NodeConfig config, IAccelerometer sensor, IModelStorage models, IModelStorage state, IAlarmOutput? alarm, NodeRunnerOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(sensor);
        options.Validate();
        _config = config;
        _options = options;
        _log = log ?? (_ => { });
        Controller = new NodeController(config, sensor, this, this, models, state, alarm, SystemFloatMath.Instance);
        _mqtt = new MqttClientFactory().CreateMqttClient();
        _mqtt.ApplicationMessageReceivedAsync += e =>
        {
            if (_inbox.Count < InboxLimit)
            {
                _inbox.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray(), 0));
                _wake.Set();
            }

            return Task.CompletedTask;
        };
    }

    /// <summary>The controller (its counters are safe to read from any thread).</summary>
    public NodeController Controller { get; }

    /// <summary>True while connected to the broker.</summary>
    public bool IsConnected => _mqtt.IsConnected;

    /// <summary>Sensor reads that threw (counted, the sample becomes a dropped window as on the device).</summary>
    public long SampleFailures => Interlocked.Read(ref _sampleFailures);

    /// <summary>Boots the controller and starts the sampling and worker threads.</summary>
    public void Start()
    {
        if (_worker != null)
        {
            throw new InvalidOperationException("the runner has already started");
        }

        Controller.Start();
        _log($"node {_config.NodeId}: boot {Controller.Boot}, model {(Controller.Updater.ActiveModel == null ? "none" : "release " + Controller.Updater.InstalledSequence)}");
        _sampler = new Thread(SampleLoop) { IsBackground = true, Priority = ThreadPriority.Highest, Name = $"{_config.NodeId} sampling" };
        _worker = new Thread(WorkLoop) { IsBackground = true, Name = $"{_config.NodeId} worker" };
        _sampler.Start();
        _worker.Start();
    }

    /// <inheritdoc />
    public int Publish(string topic, byte[] payload, int count)
    {
        if (!_mqtt.IsConnected)
        {
            return 0;
        }

        int id = Interlocked.Increment(ref _nextMessageId) & int.MaxValue;
        id = id == 0 ? 1 : id;
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload.AsSpan(0, count).ToArray())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        _ = PublishAsync(message, id);
        return id;
    }

    /// <inheritdoc />
    public long UnixMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <inheritdoc />
    public long Ticks() => _clock.Elapsed.Ticks;

    /// <summary>Stops sampling and the worker, and disconnects (the broker then publishes the last will).</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _wake.Set();
        _sampler?.Join(TimeSpan.FromSeconds(5));
        _worker?.Join(TimeSpan.FromSeconds(10));
        try
        {
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
        _wake.Dispose();
        _stop.Dispose();
    }

    private async Task PublishAsync(MqttApplicationMessage message, int id)
    {
        try
        {
            MqttClientPublishResult r = await _mqtt.PublishAsync(message, _stop.Token);
            if (r.IsSuccess)
            {
                _inbox.Enqueue((null, null, id));
                _wake.Set();
            }
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // Not acknowledged: the controller keeps the event and sends it again after the next connect.
        }
    }

    // Due samples follow the clock: after a stall the loop catches up at once, so a window's samples are the ones
    // the period called for, and evaluation (on the worker) never holds sampling back.
    private void SampleLoop()
    {
        double perTick = _config.SampleRateHz * _options.Speed / Stopwatch.Frequency;
        long start = Stopwatch.GetTimestamp();
        long taken = 0;
        while (!_stop.IsCancellationRequested)
        {
            long due = (long)((Stopwatch.GetTimestamp() - start) * perTick);
            if (taken >= due)
            {
                Thread.Sleep(1);
                continue;
            }

            while (taken < due && !_stop.IsCancellationRequested)
            {
                bool ready;
                try
                {
                    ready = Controller.Sample();
                }
                catch (Exception e) when (e is System.IO.IOException or InvalidOperationException or TimeoutException or UnauthorizedAccessException)
                {
                    Interlocked.Increment(ref _sampleFailures); // a bus that throws instead of failing the read
                    ready = false;
                }

                taken++;
                if (ready)
                {
                    _wake.Set();
                }
            }
        }
    }

    private void WorkLoop()
    {
        long nextTelemetry = 0;
        DateTime connectAfter = DateTime.MinValue;
        while (!_stop.IsCancellationRequested)
        {
            if (!_mqtt.IsConnected && DateTime.UtcNow >= connectAfter)
            {
                if (!Connect())
                {
                    connectAfter = DateTime.UtcNow + _options.ReconnectDelay;
                }
            }

            _wake.WaitOne(200);
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

            if (_mqtt.IsConnected && Ticks() >= nextTelemetry)
            {
                nextTelemetry = Ticks() + (_config.TelemetrySeconds * TimeSpan.TicksPerSecond);
                Controller.SendTelemetry((uint)_clock.Elapsed.TotalSeconds, (uint)Math.Min(uint.MaxValue, GC.GetTotalMemory(false)), 0);
            }
        }
    }

    private bool Connect()
    {
        try
        {
            MqttClientOptions o = new MqttClientOptionsBuilder().WithTcpServer(_options.Host, _options.Port).WithClientId(_config.NodeId)
                .WithCredentials(_config.NodeId, _options.Password).WithCleanSession(true).WithTimeout(TimeSpan.FromSeconds(10))
                .WithWillTopic(Controller.Topics.Status).WithWillPayload(Encoding.UTF8.GetBytes("offline")).WithWillRetain(true)
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            MqttClientConnectResult r = _mqtt.ConnectAsync(o, _stop.Token).GetAwaiter().GetResult();
            if (r.ResultCode != MqttClientConnectResultCode.Success)
            {
                _log($"node {_config.NodeId}: broker refused the login ({r.ResultCode})");
                return false;
            }

            _mqtt.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(Controller.Topics.DownWildcard, MqttQualityOfServiceLevel.AtLeastOnce).Build(), _stop.Token).GetAwaiter().GetResult();
            _mqtt.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Controller.Topics.Status).WithPayload("online").WithRetainFlag(true)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), _stop.Token).GetAwaiter().GetResult();
            Controller.OnConnected(); // the update state, then every event still waiting for its acknowledgement
            _log($"node {_config.NodeId}: connected to {_options.Host}:{_options.Port}");
            return true;
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
        {
            _log($"node {_config.NodeId}: cannot reach {_options.Host}:{_options.Port} ({e.Message})");
            return false;
        }
    }
}
