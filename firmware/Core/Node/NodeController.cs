using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// Everything a node decides, in the portable core: the boot count, continuous capture (<see cref="WindowCapture"/>),
    /// detection, events at QoS 1 with the unacknowledged ones kept and sent again after a reconnect, verdicts and the
    /// local alarm, health telemetry, and model updates through <see cref="ModelUpdater"/>. The nanoFramework app only
    /// wires it to Wi-Fi, SNTP, M2Mqtt, the sensor and GPIO: a sampling thread calls <see cref="Sample"/> at the board's
    /// rate, and one worker thread calls everything else (<see cref="ProcessWindows"/>, <see cref="OnConnected"/>,
    /// <see cref="OnMessage"/>, <see cref="OnPublished"/>, <see cref="SendTelemetry"/>). Frames are encoded into buffers
    /// allocated once; an ordinary window allocates nothing.
    /// </summary>
    public sealed class NodeController
    {
        /// <summary>Events kept until the gateway acknowledges them.</summary>
        public const int PendingEvents = 2;

        private readonly IAccelerometer _sensor;
        private readonly INodeUplink _uplink;
        private readonly INodeClock _clock;
        private readonly IModelStorage _state;
        private readonly IAlarmOutput? _alarm;
        private readonly Topics _topics;
        private readonly ModelUpdater _updater;
        private readonly DetectionPipeline _pipeline;
        private readonly IFloatMath _math;
        private readonly WindowCapture _capture;
        private readonly float[] _xyz = new float[3];
        private readonly EventMessage _event;
        private readonly byte[][] _eventFrames = new byte[PendingEvents][];
        private readonly int[] _eventIds = new int[PendingEvents];
        private readonly bool[] _eventPending = new bool[PendingEvents];
        private readonly uint[] _eventOrder = new uint[PendingEvents];
        private readonly int[] _eventLengths = new int[PendingEvents]; // a model with fewer inputs than the largest makes a shorter frame
        private readonly TelemetryMessage _telemetry = new TelemetryMessage();
        private readonly byte[] _telemetryFrame;
        private readonly byte[] _statusFrame;
        private uint _sequence;
        private uint _eventCounter;
        private bool _sensorFailed;

        /// <summary>A node for <paramref name="config"/>; models live in <paramref name="models"/>, the boot count in <paramref name="state"/>.</summary>
        public NodeController(NodeConfig config, IAccelerometer sensor, INodeUplink uplink, INodeClock clock, IModelStorage models, IModelStorage state, IAlarmOutput? alarm, IFloatMath math)
        {
            _sensor = sensor;
            _uplink = uplink;
            _clock = clock;
            _state = state;
            _alarm = alarm;
            _topics = new Topics(config.NodeId);
            _updater = new ModelUpdater(models, config.NodeKey, config.NodeId, config.BoardClass, config.ModelFlashBytes, config.ModelRamBytes);
            _updater.Budget = new PipelineBudget(config.WindowLength, config.Bands, config.SampleRateHz, config.MacNanoseconds, config.ModelRamBytes, config.PipelineRamBytes,
                config.BaselineWindows > 0 ? config.BaselineSmoothing : 0);
            _pipeline = new DetectionPipeline(config.WindowLength, config.Bands, config.SampleRateHz, math, config.BaselineWindows, config.BaselineSmoothing);
            _math = math;
            _capture = new WindowCapture(config.WindowLength);
            _event = _pipeline.NewEvent();
            int eventSize = EventMessage.FrameSizeFor(_pipeline.MaxInputLength, config.WindowLength);
            for (int i = 0; i < PendingEvents; i++)
            {
                _eventFrames[i] = new byte[eventSize];
            }

            _telemetryFrame = new byte[WireCodec.FrameSize(_telemetry)];
            _statusFrame = new byte[WireCodec.HeaderSize + 16 + WireCodec.TrailerSize];
        }

        /// <summary>This boot's count (after <see cref="Start"/>).</summary>
        public uint Boot;

        /// <summary>The last error (<see cref="NodeError"/>), as telemetry reports it.</summary>
        public int LastError;

        /// <summary>Events published (first sends).</summary>
        public uint EventsSent;

        /// <summary>Events the gateway acknowledged.</summary>
        public uint EventsAcknowledged;

        /// <summary>Events sent again after a reconnect.</summary>
        public uint EventsResent;

        /// <summary>Events dropped because <see cref="PendingEvents"/> were already waiting.</summary>
        public uint EventsDropped;

        /// <summary>Duration of the last window's features and inference, microseconds.</summary>
        public uint LastInferenceMicros;

        /// <summary>True while the last verdict said fault.</summary>
        public bool AlarmRaised;

        /// <summary>Verdicts the gateway sent back.</summary>
        public uint VerdictsReceived;

        /// <summary>The update state machine (read-only use: its state and model).</summary>
        public ModelUpdater Updater
        {
            get { return _updater; }
        }

        /// <summary>The capture buffers (their counts: windows, overruns).</summary>
        public WindowCapture Capture
        {
            get { return _capture; }
        }

        /// <summary>The detection pipeline (its counts: evaluated, suspicious, dropped).</summary>
        public DetectionPipeline Pipeline
        {
            get { return _pipeline; }
        }

        /// <summary>The node's topics.</summary>
        public Topics Topics
        {
            get { return _topics; }
        }

        /// <summary>
        /// Advances the boot count (before anything is sent), boots the model store and takes up the healthy baseline
        /// learned on an earlier boot (a missing or damaged one is learned again from the next windows).
        /// </summary>
        public void Start()
        {
            Boot = BootCounter.Advance(_state);
            _updater.Boot();
            HealthyBaseline? baseline = _pipeline.Baseline;
            if (baseline != null)
            {
                baseline.Load(_state, _math);
            }
        }

        /// <summary>
        /// Sampling thread, once per sample period: reads the sensor into the window being filled. A failed read
        /// becomes a NaN sample (its window is dropped and counted). True when a window is ready for
        /// <see cref="ProcessWindows"/>.
        /// </summary>
        public bool Sample()
        {
            float[] s = _xyz;
            if (!_sensor.TryRead(s))
            {
                _sensorFailed = true;
                s[0] = float.NaN;
            }

            return _capture.Add(s[0], s[1], s[2]);
        }

        /// <summary>Worker thread: evaluates every ready window; returns how many it evaluated.</summary>
        public int ProcessWindows()
        {
            int done = 0;
            int index;
            while ((index = _capture.TakeReady()) >= 0)
            {
                long started = _clock.Ticks();
                Int8Model? model = _updater.ActiveModel;
                int result = _pipeline.Evaluate(model, _capture.X(index), _capture.Y(index), _capture.Z(index));
                LastInferenceMicros = (uint)((_clock.Ticks() - started) / 10);
                if (_pipeline.BaselineCompleted)
                {
                    _pipeline.BaselineCompleted = false;
                    _pipeline.Baseline!.Save(_state); // once: a reboot takes it up instead of learning again
                }

                if (result == DetectionPipeline.ResultSuspicious)
                {
                    _pipeline.FillEvent(_event, model!, NextSequence(), _clock.UnixMs());
                    _event.Boot = Boot;
                    QueueEvent();
                }
                else if (result == DetectionPipeline.ResultBadSamples)
                {
                    LastError = _sensorFailed ? NodeError.SensorRead : NodeError.BadSamples;
                    _sensorFailed = false;
                }
                else if (result == DetectionPipeline.ResultNoModel)
                {
                    LastError = NodeError.NoModel;
                }

                _capture.Release(index);
                done++;
            }

            if (_capture.Overruns > 0 && LastError == NodeError.None)
            {
                LastError = NodeError.WindowOverrun;
            }

            return done;
        }

        /// <summary>Worker thread, after every (re)connect and subscribe: reports the update state, then sends the pending events again.</summary>
        public void OnConnected()
        {
            PublishStatus(_updater.Status());
            uint after = 0;
            for (int pass = 0; pass < PendingEvents; pass++)
            {
                // The next pending event in capture order: resent oldest first, each under a new message id.
                int next = -1;
                for (int i = 0; i < PendingEvents; i++)
                {
                    if (_eventPending[i] && _eventOrder[i] > after && (next < 0 || _eventOrder[i] < _eventOrder[next]))
                    {
                        next = i;
                    }
                }

                if (next < 0)
                {
                    return;
                }

                after = _eventOrder[next];
                int id = _uplink.Publish(_topics.Event, _eventFrames[next], _eventLengths[next]);
                if (id == 0)
                {
                    LastError = NodeError.PublishFailed;
                    return;
                }

                _eventIds[next] = id;
                EventsResent++;
            }
        }

        /// <summary>The uplink's acknowledgement of message <paramref name="messageId"/> (PUBACK).</summary>
        public void OnPublished(int messageId)
        {
            for (int i = 0; i < PendingEvents; i++)
            {
                if (_eventPending[i] && _eventIds[i] == messageId)
                {
                    _eventPending[i] = false;
                    EventsAcknowledged++;
                }
            }
        }

        /// <summary>Worker thread: a message from the gateway on one of the node's downlink topics.</summary>
        public void OnMessage(string topic, byte[] payload)
        {
            WireMessage m;
            try
            {
                m = WireCodec.Decode(payload, 0, payload.Length);
            }
            catch (WireFormatException)
            {
                LastError = NodeError.MalformedDownlink;
                return;
            }

            OtaStatusMessage? status = null;
            if (m.Type == MessageType.Verdict && topic == _topics.Verdict)
            {
                VerdictsReceived++;
                AlarmRaised = ((VerdictMessage)m).IsFault;
                if (_alarm != null)
                {
                    _alarm.Set(AlarmRaised);
                }
            }
            else if (m.Type == MessageType.OtaOffer && topic == _topics.OtaOffer)
            {
                status = _updater.Offer(((OtaOfferMessage)m).Manifest);
            }
            else if (m.Type == MessageType.OtaChunk && topic == _topics.OtaChunk)
            {
                OtaChunkMessage c = (OtaChunkMessage)m;
                status = _updater.Chunk(c.ReleaseSequence, c.Offset, c.Data, 0, c.Data.Length);
            }
            else
            {
                LastError = NodeError.MalformedDownlink; // a message on the wrong topic
            }

            if (status != null)
            {
                if (status.Error != UpdateError.None)
                {
                    LastError = NodeError.FromUpdate(status.Error);
                }

                PublishStatus(status);
            }
        }

        /// <summary>Worker thread, every telemetry period: health as the wire format's telemetry message.</summary>
        public void SendTelemetry(uint uptimeSeconds, uint freeMemoryBytes, int rssiDbm)
        {
            TelemetryMessage t = _telemetry;
            t.Boot = Boot;
            t.Sequence = NextSequence();
            t.TimestampMs = _clock.UnixMs();
            t.UptimeSeconds = uptimeSeconds;
            t.FreeMemoryBytes = freeMemoryBytes;
            Int8Model? model = _updater.ActiveModel;
            t.ModelId = model == null ? 0 : model.Header.ModelId;
            t.ModelVersion = model == null ? 0 : model.Header.ModelVersion;
            t.ModelSlot = _updater.ActiveSlot;
            t.UpdateState = _updater.State;
            t.RssiDbm = rssiDbm;
            t.InferenceMicros = LastInferenceMicros;
            t.Windows = _pipeline.Windows;
            t.Events = EventsSent;
            t.Dropped = _pipeline.Dropped + _capture.Overruns + EventsDropped;
            t.LastError = LastError;
            int n = WireCodec.EncodeInto(t, _telemetryFrame, 0);
            if (_uplink.Publish(_topics.Telemetry, _telemetryFrame, n) == 0)
            {
                LastError = NodeError.PublishFailed;
            }
        }

        private void QueueEvent()
        {
            int slot = -1;
            for (int i = 0; i < PendingEvents; i++)
            {
                if (!_eventPending[i])
                {
                    slot = i;
                    break;
                }
            }

            if (slot < 0)
            {
                slot = OldestPending(); // all waiting: the oldest gives way to the newest window
                EventsDropped++;
                LastError = NodeError.EventDropped;
            }

            _eventLengths[slot] = WireCodec.EncodeInto(_event, _eventFrames[slot], 0);
            _eventPending[slot] = true;
            _eventOrder[slot] = ++_eventCounter;
            EventsSent++;
            int id = _uplink.Publish(_topics.Event, _eventFrames[slot], _eventLengths[slot]);
            _eventIds[slot] = id;
            if (id == 0)
            {
                LastError = NodeError.PublishFailed; // kept pending: OnConnected sends it again
            }
        }

        private int OldestPending()
        {
            int oldest = -1;
            for (int i = 0; i < PendingEvents; i++)
            {
                if (_eventPending[i] && (oldest < 0 || _eventOrder[i] < _eventOrder[oldest]))
                {
                    oldest = i;
                }
            }

            return oldest;
        }

        private void PublishStatus(OtaStatusMessage status)
        {
            status.Boot = Boot;
            status.Sequence = NextSequence();
            status.TimestampMs = _clock.UnixMs();
            int n = WireCodec.EncodeInto(status, _statusFrame, 0);
            if (_uplink.Publish(_topics.OtaStatus, _statusFrame, n) == 0)
            {
                LastError = NodeError.PublishFailed;
            }
        }

        private uint NextSequence()
        {
            _sequence++;
            return _sequence;
        }
    }
}
