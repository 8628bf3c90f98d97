using System;
using System.Collections;
using System.Device.Gpio;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using nanoFramework.M2Mqtt;
using nanoFramework.M2Mqtt.Messages;
using TinyMlops.Firmware.App.Hardware;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Firmware.App
{
    /// <summary>
    /// The node: a sampling thread feeds the detection pipeline; suspicious windows become events; a timer sends
    /// health telemetry; update messages from the gateway are queued to the main loop, which drives the update state
    /// machine (so slot writes never race the detector, which reads <see cref="ModelUpdater.ActiveModel"/> per window).
    /// </summary>
    public sealed class NodeApp
    {
        private const string Root = "I:\\";
        private readonly NodeConfig _config;
        private readonly Topics _topics;
        private readonly ModelUpdater _updater;
        private readonly DetectionPipeline _pipeline;
        private readonly IAccelerometer _sensor;
        private readonly Queue _downlink = new Queue();
        private readonly AutoResetEvent _wake = new AutoResetEvent(false);
        private readonly object _publishLock = new object();
        private readonly GpioPin? _alarm;
        private readonly DateTime _started = DateTime.UtcNow;
        private MqttClient? _mqtt;
        private Timer? _health;
        private uint _sequence;
        private uint _boot;
        private uint _eventsSent;
        private uint _lastInferenceMicros;
        private int _lastError;

        /// <summary>Builds the node from its provisioning file.</summary>
        public NodeApp(NodeConfig config)
        {
            _config = config;
            _topics = new Topics(config.NodeId);
            _updater = new ModelUpdater(new FileModelStorage(Root + "models"), config.NodeKey, config.NodeId, config.BoardClass, config.ModelFlashBytes, config.ModelRamBytes);
            _pipeline = new DetectionPipeline(config.WindowLength, config.Bands, config.SampleRateHz, SystemFloatMath.Instance);
            _sensor = config.Sensor == "adxl345" ? (IAccelerometer)new Adxl345Accelerometer(config) : new Mpu6050Accelerometer(config);
            if (config.AlarmPin >= 0)
            {
                _alarm = new GpioController().OpenPin(config.AlarmPin, PinMode.Output);
                _alarm.Write(PinValue.Low);
            }
        }

        /// <summary>Boots the model store, connects, and runs forever.</summary>
        public void Run()
        {
            _boot = BootCounter.Advance(new FileModelStorage(Root + "state")); // before anything is sent: names this boot's messages
            _updater.Boot();
            Debug.WriteLine("model: " + (_updater.ActiveModel == null ? "none" : "release " + _updater.InstalledSequence) + " " + _updater.LastMessage);
            Thread sampler = new Thread(SampleLoop);
            sampler.Priority = ThreadPriority.Highest;
            sampler.Start();
            _health = new Timer(SendTelemetry, null, 5000, _config.TelemetrySeconds * 1000);
            while (true)
            {
                EnsureConnected();
                _wake.WaitOne(1000, false);
                ProcessDownlink();
            }
        }

        private void SampleLoop()
        {
            float[] xyz = new float[3];
            long period = TimeSpan.TicksPerSecond / _config.SampleRateHz;
            long next = DateTime.UtcNow.Ticks;
            Stopwatch watch = new Stopwatch();
            while (true)
            {
                // Pace on the tick clock; sleeping the remainder keeps the other threads running.
                long now = DateTime.UtcNow.Ticks;
                if (now < next)
                {
                    int ms = (int)((next - now) / TimeSpan.TicksPerMillisecond);
                    if (ms > 0)
                    {
                        Thread.Sleep(ms);
                    }

                    continue;
                }

                next += period;
                if (!_sensor.TryRead(xyz))
                {
                    _lastError = 1;
                    xyz[0] = float.NaN; // the pipeline drops the window and counts it
                }

                if (!_pipeline.Add(xyz[0], xyz[1], xyz[2]))
                {
                    continue;
                }

                watch.Restart();
                Int8Model? model = _updater.ActiveModel;
                int result = _pipeline.Evaluate(model);
                _lastInferenceMicros = (uint)(watch.ElapsedTicks / 10);
                if (result == DetectionPipeline.ResultSuspicious)
                {
                    EventMessage ev = _pipeline.BuildEvent(model!, NextSequence(), NowMs());
                    ev.Boot = _boot;
                    Publish(_topics.Event, WireCodec.Encode(ev));
                    _eventsSent++;
                }

                next = DateTime.UtcNow.Ticks; // computing the window took time: restart pacing from now
            }
        }

        private void SendTelemetry(object state)
        {
            TelemetryMessage t = new TelemetryMessage();
            t.Boot = _boot;
            t.Sequence = NextSequence();
            t.TimestampMs = NowMs();
            t.UptimeSeconds = (uint)((DateTime.UtcNow - _started).Ticks / TimeSpan.TicksPerSecond);
            t.FreeMemoryBytes = nanoFramework.Runtime.Native.GC.Run(false);
            Int8Model? model = _updater.ActiveModel;
            t.ModelId = model == null ? 0 : model.Header.ModelId;
            t.ModelVersion = model == null ? 0 : model.Header.ModelVersion;
            t.ModelSlot = _updater.ActiveSlot;
            t.UpdateState = _updater.State;
            t.RssiDbm = 0;
            t.InferenceMicros = _lastInferenceMicros;
            t.Windows = _pipeline.Windows;
            t.Events = _eventsSent;
            t.Dropped = _pipeline.Dropped;
            t.LastError = _lastError != 0 ? _lastError : _updater.LastError;
            Publish(_topics.Telemetry, WireCodec.Encode(t));
        }

        private void OnMessage(object sender, MqttMsgPublishEventArgs e)
        {
            // Runs on the MQTT receive thread: only queue; bound the queue so a flood cannot exhaust the heap.
            lock (_downlink)
            {
                if (_downlink.Count < 8)
                {
                    object[] item = new object[] { e.Topic, e.Message };
                    _downlink.Enqueue(item);
                }
            }

            _wake.Set();
        }

        private void ProcessDownlink()
        {
            while (true)
            {
                object[] item;
                lock (_downlink)
                {
                    if (_downlink.Count == 0)
                    {
                        return;
                    }

                    item = (object[])_downlink.Dequeue();
                }

                string topic = (string)item[0];
                byte[] payload = (byte[])item[1];
                WireMessage m;
                try
                {
                    m = WireCodec.Decode(payload, 0, payload.Length);
                }
                catch (WireFormatException ex)
                {
                    Debug.WriteLine("dropped malformed message on " + topic + ": " + ex.Message);
                    _lastError = 2;
                    continue;
                }

                OtaStatusMessage? status = null;
                if (m.Type == MessageType.OtaOffer && topic == _topics.OtaOffer)
                {
                    status = _updater.Offer(((OtaOfferMessage)m).Manifest);
                }
                else if (m.Type == MessageType.OtaChunk && topic == _topics.OtaChunk)
                {
                    OtaChunkMessage c = (OtaChunkMessage)m;
                    status = _updater.Chunk(c.ReleaseSequence, c.Offset, c.Data, 0, c.Data.Length);
                }
                else if (m.Type == MessageType.Verdict && topic == _topics.Verdict)
                {
                    VerdictMessage v = (VerdictMessage)m;
                    if (_alarm != null)
                    {
                        _alarm.Write(v.IsFault ? PinValue.High : PinValue.Low);
                    }
                }

                if (status != null)
                {
                    status.Boot = _boot;
                    status.Sequence = NextSequence();
                    status.TimestampMs = NowMs();
                    Publish(_topics.OtaStatus, WireCodec.Encode(status));
                }
            }
        }

        private void EnsureConnected()
        {
            if (_mqtt != null && _mqtt.IsConnected)
            {
                return;
            }

            try
            {
                X509Certificate? ca = null;
                if (_config.MqttTls && _config.CaCertificateFile.Length > 0)
                {
                    ca = new X509Certificate(File.ReadAllText(Root + _config.CaCertificateFile));
                }

                MqttClient client = new MqttClient(_config.MqttHost, _config.MqttPort, _config.MqttTls, ca, null, _config.MqttTls ? MqttSslProtocols.TLSv1_2 : MqttSslProtocols.None);
                client.MqttMsgPublishReceived += OnMessage;
                MqttReasonCode code = client.Connect(_config.NodeId, _config.MqttUser, _config.MqttPassword, true, MqttQoSLevel.AtLeastOnce, true, _topics.Status, "offline", false, 60);
                if (code != MqttReasonCode.Success)
                {
                    Debug.WriteLine("broker refused the connection: " + code.ToString());
                    return;
                }

                client.Subscribe(new string[] { _topics.DownWildcard }, new MqttQoSLevel[] { MqttQoSLevel.AtLeastOnce });
                client.Publish(_topics.Status, System.Text.Encoding.UTF8.GetBytes("online"), null, null, MqttQoSLevel.AtLeastOnce, true);
                _mqtt = client;
                OtaStatusMessage hello = _updater.Status();
                hello.Boot = _boot;
                Publish(_topics.OtaStatus, WireCodec.Encode(hello));
            }
            catch (Exception ex)
            {
                Debug.WriteLine("MQTT connect failed: " + ex.Message);
            }
        }

        private void Publish(string topic, byte[] payload)
        {
            lock (_publishLock)
            {
                MqttClient? c = _mqtt;
                if (c == null || !c.IsConnected)
                {
                    _lastError = 3;
                    return;
                }

                try
                {
                    c.Publish(topic, payload, null, null, MqttQoSLevel.AtLeastOnce, false);
                }
                catch (Exception ex)
                {
                    Debug.WriteLine("publish failed: " + ex.Message);
                    _lastError = 3;
                }
            }
        }

        private uint NextSequence()
        {
            lock (_publishLock)
            {
                return ++_sequence;
            }
        }

        private static long NowMs()
        {
            DateTime now = DateTime.UtcNow;
            return now.Year < 2024 ? 0 : (now - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMillisecond;
        }
    }
}
