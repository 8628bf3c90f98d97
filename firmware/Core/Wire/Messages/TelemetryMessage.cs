namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>Node health report (type 1, 40-byte payload).</summary>
    public sealed class TelemetryMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.Telemetry; }
        }

        /// <summary>Seconds since boot.</summary>
        public uint UptimeSeconds;

        /// <summary>Free managed heap in bytes.</summary>
        public uint FreeMemoryBytes;

        /// <summary>Id of the running model (0 = none).</summary>
        public uint ModelId;

        /// <summary>Version of the running model.</summary>
        public uint ModelVersion;

        /// <summary>Slot the model runs from (0 = A, 1 = B, 255 = none).</summary>
        public int ModelSlot;

        /// <summary>Update state (<see cref="Updates.UpdateState"/>).</summary>
        public int UpdateState;

        /// <summary>Wi-Fi signal strength in dBm.</summary>
        public int RssiDbm;

        /// <summary>Duration of the last features + inference, in microseconds.</summary>
        public uint InferenceMicros;

        /// <summary>Windows processed since boot.</summary>
        public uint Windows;

        /// <summary>Events published since boot.</summary>
        public uint Events;

        /// <summary>Windows dropped (sensor errors, NaN samples, queue full) since boot.</summary>
        public uint Dropped;

        /// <summary>Last error code (0 = none).</summary>
        public int LastError;

        /// <inheritdoc />
        public override int PayloadSize()
        {
            return 40;
        }

        /// <inheritdoc />
        public override void Write(FrameWriter w)
        {
            w.U32(UptimeSeconds);
            w.U32(FreeMemoryBytes);
            w.U32(ModelId);
            w.U32(ModelVersion);
            w.U8(ModelSlot);
            w.U8(UpdateState);
            w.U8((sbyte)Clamp(RssiDbm, -128, 127));
            w.Zeros(1);
            w.U32(InferenceMicros);
            w.U32(Windows);
            w.U32(Events);
            w.U32(Dropped);
            w.U16(Clamp(LastError, 0, 65535));
            w.Zeros(2);
        }

        /// <inheritdoc />
        public override void Read(FrameReader r, int payload)
        {
            NeedExactly(payload, 40);
            UptimeSeconds = r.U32();
            FreeMemoryBytes = r.U32();
            ModelId = r.U32();
            ModelVersion = r.U32();
            ModelSlot = r.U8();
            UpdateState = r.U8();
            RssiDbm = (sbyte)r.U8();
            r.Skip(1);
            InferenceMicros = r.U32();
            Windows = r.U32();
            Events = r.U32();
            Dropped = r.U32();
            LastError = r.U16();
            r.Skip(2);
        }
    }
}
