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
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;

namespace TinyMlops.Firmware.App
{
    /// <summary>
    /// Glue between the ESP32 and the core's <see cref="NodeController"/>, which decides everything: a high-priority
    /// sampling thread calls <see cref="NodeController.Sample"/> at the board's rate and wakes the worker when a window is
    /// full (the other buffer keeps filling meanwhile, so no sample is lost); the worker (this thread) evaluates
    /// windows, keeps the MQTT link up, hands downlink messages and acknowledgements to the controller and sends
    /// telemetry. Adapters here: M2Mqtt as <see cref="INodeUplink"/>, the SNTP-set clock as <see cref="INodeClock"/>,
    /// a GPIO pin as <see cref="IAlarmOutput"/>, the sensor bindings as <see cref="IAccelerometer"/>.
    /// </summary>
    public sealed class NodeApp : INodeUplink, INodeClock, IAlarmOutput
    {
        private const string Root = "I:\\";
        private readonly NodeConfig _config;
        private readonly NodeController _node;
        private readonly Queue _inbox = new Queue();
        private readonly AutoResetEvent _wake = new AutoResetEvent(false);
        private readonly GpioPin? _alarm;
        private readonly DateTime _started = DateTime.UtcNow;
        private MqttClient? _mqtt;
        private long _nextTelemetry;

        /// <summary>Builds the node from its provisioning file.</summary>
        public NodeApp(NodeConfig config)
        {
            _config = config;
            IAccelerometer sensor = config.Sensor == "adxl345" ? (IAccelerometer)new Adxl345Accelerometer(config) : new Mpu6050Accelerometer(config);
            if (config.AlarmPin >= 0)
            {
                _alarm = new GpioController().OpenPin(config.AlarmPin, PinMode.Output);
                _alarm.Write(PinValue.Low);
            }

            _node = new NodeController(config, sensor, this, this, new FileModelStorage(Root + "models"), new FileModelStorage(Root + "state"), this, SystemFloatMath.Instance);
        }

        /// <summary>Boots, connects, and runs forever.</summary>
        public void Run()
        {
            _node.Start();
            Debug.WriteLine("boot " + _node.Boot + ", model: " + (_node.Updater.ActiveModel == null ? "none" : "release " + _node.Updater.InstalledSequence) + " " + _node.Updater.LastMessage);
            Thread sampler = new Thread(SampleLoop);
            sampler.Priority = ThreadPriority.Highest;
            sampler.Start();
            while (true)
            {
                EnsureConnected();
                _wake.WaitOne(1000, false);
                _node.ProcessWindows();
                Drain();
                if (Ticks() >= _nextTelemetry)
                {
                    _nextTelemetry = Ticks() + (_config.TelemetrySeconds * TimeSpan.TicksPerSecond);
                    _node.SendTelemetry((uint)((DateTime.UtcNow - _started).Ticks / TimeSpan.TicksPerSecond), nanoFramework.Runtime.Native.GC.Run(false), 0);
                }
            }
        }

        // Paces on the tick clock and never waits for evaluation: the controller hands full windows over.
        private void SampleLoop()
        {
            long period = TimeSpan.TicksPerSecond / _config.SampleRateHz;
            long next = DateTime.UtcNow.Ticks;
            while (true)
            {
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
                if (_node.Sample())
                {
                    _wake.Set();
                }
            }
        }

        /// <inheritdoc />
        public int Publish(string topic, byte[] payload, int count)
        {
            MqttClient? c = _mqtt;
            if (c == null || !c.IsConnected)
            {
                return 0;
            }

            byte[] message = payload;
            if (count != payload.Length)
            {
                message = new byte[count]; // M2Mqtt sends whole arrays; an event frame is sized for the largest model the board takes
                Array.Copy(payload, message, count);
            }

            try
            {
                return c.Publish(topic, message, null, null, MqttQoSLevel.AtLeastOnce, false);
            }
            catch (Exception ex)
            {
                Debug.WriteLine("publish failed: " + ex.Message);
                return 0;
            }
        }

        /// <inheritdoc />
        public long UnixMs()
        {
            DateTime now = DateTime.UtcNow;
            return now.Year < 2024 ? 0 : (now - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMillisecond;
        }

        /// <inheritdoc />
        public long Ticks()
        {
            return DateTime.UtcNow.Ticks;
        }

        /// <inheritdoc />
        public void Set(bool raised)
        {
            if (_alarm != null)
            {
                _alarm.Write(raised ? PinValue.High : PinValue.Low);
            }
        }

        // MQTT receive thread: only queue (bounded, so a flood cannot exhaust the heap).
        private void OnMessage(object sender, MqttMsgPublishEventArgs e)
        {
            Enqueue(new object[] { e.Topic, e.Message });
        }

        private void OnPublished(object sender, MqttMsgPublishedEventArgs e)
        {
            if (e.IsPublished)
            {
                Enqueue(new object[] { null, (int)e.MessageId });
            }
        }

        private void Enqueue(object[] item)
        {
            lock (_inbox)
            {
                if (_inbox.Count < 16)
                {
                    _inbox.Enqueue(item);
                }
            }

            _wake.Set();
        }

        private void Drain()
        {
            while (true)
            {
                object[] item;
                lock (_inbox)
                {
                    if (_inbox.Count == 0)
                    {
                        return;
                    }

                    item = (object[])_inbox.Dequeue();
                }

                if (item[0] == null)
                {
                    _node.OnPublished((int)item[1]);
                }
                else
                {
                    _node.OnMessage((string)item[0], (byte[])item[1]);
                }
            }
        }

        private void EnsureConnected()
        {
            MqttClient? c = _mqtt;
            if (c != null && c.IsConnected)
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
                client.MqttMsgPublished += OnPublished;
                MqttReasonCode code = client.Connect(_config.NodeId, _config.MqttUser, _config.MqttPassword, true, MqttQoSLevel.AtLeastOnce, true, _node.Topics.Status, "offline", false, 60);
                if (code != MqttReasonCode.Success)
                {
                    Debug.WriteLine("broker refused the connection: " + code.ToString());
                    return;
                }

                client.Subscribe(new string[] { _node.Topics.DownWildcard }, new MqttQoSLevel[] { MqttQoSLevel.AtLeastOnce });
                client.Publish(_node.Topics.Status, System.Text.Encoding.UTF8.GetBytes("online"), null, null, MqttQoSLevel.AtLeastOnce, true);
                _mqtt = client;
                _node.OnConnected(); // the update state, then every event still waiting for its acknowledgement
            }
            catch (Exception ex)
            {
                Debug.WriteLine("MQTT connect failed: " + ex.Message);
            }
        }
    }
}
