namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>
    /// A suspicious window (type 2): detector score plus the raw samples for the gateway's verifier. Payload: a
    /// 32-byte fixed part, the features (float32), the samples (int16, axis-major).
    /// </summary>
    public sealed class EventMessage : WireMessage
    {
        /// <summary>Bytes before the features.</summary>
        public const int FixedSize = 32;

        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.Event; }
        }

        /// <summary>Bytes of the frame of an event with <paramref name="features"/> features and 3-axis windows of <paramref name="windowLength"/>.</summary>
        public static int FrameSizeFor(int features, int windowLength)
        {
            return WireCodec.HeaderSize + FixedSize + (4 * features) + (6 * windowLength) + WireCodec.TrailerSize;
        }

        /// <summary>Detector model id.</summary>
        public uint ModelId;

        /// <summary>Detector model version.</summary>
        public uint ModelVersion;

        /// <summary>Detector output (integer units of the model's output tensor).</summary>
        public int Score;

        /// <summary>The model's threshold (same units as <see cref="Score"/>).</summary>
        public int Threshold;

        /// <summary>Score in real units.</summary>
        public float RealScore;

        /// <summary>Samples per second per axis.</summary>
        public int SampleRateHz;

        /// <summary>Feature vector the detector saw (may be empty).</summary>
        public float[] Features = new float[0];

        /// <summary>Axis count (3).</summary>
        public int Axes = 3;

        /// <summary>Samples per axis.</summary>
        public int WindowLength;

        /// <summary>g per count of <see cref="Samples"/>.</summary>
        public float SampleScale;

        /// <summary>Samples, axis-major (all x, then y, then z), in counts of <see cref="SampleScale"/>.</summary>
        public short[] Samples = new short[0];

        /// <inheritdoc />
        public override int PayloadSize()
        {
            if (Features.Length > WireCodec.MaxFeatures || Axes != 3 || WindowLength < 1 || WindowLength > 65535 || Samples.Length != Axes * WindowLength || SampleRateHz < 1 || SampleRateHz > 65535)
            {
                throw new WireFormatException(WireError.BadField, "event fields do not fit the format (3 axes, samples = 3 x window, at most " + WireCodec.MaxFeatures + " features)");
            }

            return FixedSize + (4 * Features.Length) + (2 * Samples.Length);
        }

        /// <inheritdoc />
        public override void Write(FrameWriter w)
        {
            w.U32(ModelId);
            w.U32(ModelVersion);
            w.I32(Score);
            w.I32(Threshold);
            w.F32(RealScore);
            w.U16(SampleRateHz);
            w.U16(WindowLength);
            w.U8(Axes);
            w.U8(Features.Length);
            w.Zeros(2);
            w.F32(SampleScale);
            w.Singles(Features);
            w.Int16s(Samples);
        }

        /// <inheritdoc />
        public override void Read(FrameReader r, int payload)
        {
            if (payload < FixedSize)
            {
                throw new WireFormatException(WireError.BadLength, "event payload shorter than its 32-byte fixed part");
            }

            ModelId = r.U32();
            ModelVersion = r.U32();
            Score = r.I32();
            Threshold = r.I32();
            RealScore = r.F32();
            SampleRateHz = r.U16();
            WindowLength = r.U16();
            Axes = r.U8();
            int features = r.U8();
            r.Skip(2);
            SampleScale = r.F32();
            if (Axes != 3)
            {
                throw new WireFormatException(WireError.BadField, "event has " + Axes + " axes, expected 3");
            }

            if (SampleRateHz == 0 || WindowLength == 0)
            {
                throw new WireFormatException(WireError.BadField, "event sample rate and window length must be positive");
            }

            if (!(SampleScale > 0f && SampleScale <= WireCodec.MaxSampleScale))
            {
                throw new WireFormatException(WireError.BadField, "event sample scale must lie in (0, " + WireCodec.MaxSampleScale + "] g per count");
            }

            if (float.IsNaN(RealScore) || float.IsInfinity(RealScore))
            {
                throw new WireFormatException(WireError.BadField, "event score is not finite");
            }

            int samples = Axes * WindowLength;
            if (FixedSize + (4 * features) + (2 * samples) != payload)
            {
                throw new WireFormatException(WireError.BadLength, "event declares " + features + " features and " + samples + " samples, which do not fill its " + payload + "-byte payload");
            }

            Features = new float[features];
            for (int i = 0; i < features; i++)
            {
                float f = r.F32();
                if (float.IsNaN(f) || float.IsInfinity(f))
                {
                    throw new WireFormatException(WireError.BadField, "event feature " + i + " is not finite");
                }

                Features[i] = f;
            }

            Samples = r.Int16s(samples);
        }
    }
}
