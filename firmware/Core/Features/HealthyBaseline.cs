using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Updates;

namespace TinyMlops.Firmware.Core.Features
{
    /// <summary>
    /// The node's own healthy baseline: the mean and spread of each feature over its first <see cref="Windows"/>
    /// windows after commissioning, when the machine it is fitted to runs healthy. A model trained on baseline inputs
    /// (<see cref="InputLength"/> values) then sees each window as its deviation from that baseline, so a fan whose
    /// vibration follows its speed is judged against its own speed. Each input is the mean over the last
    /// <see cref="Smoothing"/> windows of z = (feature − mean) / (sd + <see cref="SdFloor"/>), then |z| of that
    /// mean: 2 × the feature count values. Single precision throughout, the same on the host (the trainer builds its
    /// training rows with this class) and on the device. Not thread-safe: the worker thread owns it.
    /// </summary>
    public sealed class HealthyBaseline
    {
        /// <summary>Added to each feature's standard deviation: a feature that hardly moved while learning must not turn noise into huge z.</summary>
        public const float SdFloor = 0.001f;

        /// <summary>The file the learned baseline is kept in (node state storage).</summary>
        public const string FileName = "baseline.bin";

        private const uint Magic = 0x4C42544D; // "MTBL"
        private const int HeaderBytes = 16;

        private readonly int _features;
        private readonly int _windows;
        private readonly int _smoothing;
        private readonly float[] _mean;
        private readonly float[] _m2;
        private readonly float[] _scale;
        private readonly float[] _ring;
        private int _learned;
        private int _ringNext;
        private int _ringCount;

        /// <summary>A baseline of <paramref name="features"/> features to learn over <paramref name="windows"/> windows, smoothing over <paramref name="smoothing"/>.</summary>
        public HealthyBaseline(int features, int windows, int smoothing)
        {
            if (features <= 0 || windows < 2 || smoothing < 1 || smoothing > 16)
            {
                throw new System.ArgumentException("a baseline needs features, at least 2 windows and a smoothing of 1..16");
            }

            _features = features;
            _windows = windows;
            _smoothing = smoothing;
            _mean = new float[features];
            _m2 = new float[features];
            _scale = new float[features];
            _ring = new float[smoothing * features];
        }

        /// <summary>Features per window.</summary>
        public int FeatureCount
        {
            get { return _features; }
        }

        /// <summary>Windows the baseline is learned over.</summary>
        public int Windows
        {
            get { return _windows; }
        }

        /// <summary>Windows averaged into each input.</summary>
        public int Smoothing
        {
            get { return _smoothing; }
        }

        /// <summary>Windows learned so far.</summary>
        public int Learned
        {
            get { return _learned; }
        }

        /// <summary>True once <see cref="Windows"/> windows are learned: <see cref="Normalise"/> may run.</summary>
        public bool IsReady
        {
            get { return _learned >= _windows; }
        }

        /// <summary>Length of the model input <see cref="Normalise"/> writes: z then |z| per feature.</summary>
        public int InputLength
        {
            get { return 2 * _features; }
        }

        /// <summary>Learns one healthy window's features (Welford's update); the last one fixes the scales. Ignored once ready.</summary>
        public void Learn(float[] features, IFloatMath math)
        {
            if (IsReady)
            {
                return;
            }

            int n = _features;
            float count = _learned + 1;
            float[] mean = _mean;
            float[] m2 = _m2;
            for (int i = 0; i < n; i++)
            {
                float x = features[i];
                float d = x - mean[i];
                float m = mean[i] + d / count;
                mean[i] = m;
                m2[i] += d * (x - m);
            }

            _learned++;
            if (IsReady)
            {
                FixScales(math);
            }
        }

        /// <summary>
        /// Writes the model input for <paramref name="features"/> into <paramref name="input"/> (<see cref="InputLength"/>
        /// values): the mean z of this window and the <see cref="Smoothing"/> − 1 before it, then its absolute values.
        /// </summary>
        public void Normalise(float[] features, float[] input)
        {
            int n = _features;
            float[] mean = _mean;
            float[] scale = _scale;
            float[] ring = _ring;
            int at = _ringNext * n;
            for (int i = 0; i < n; i++)
            {
                ring[at + i] = (features[i] - mean[i]) * scale[i];
            }

            _ringNext = _ringNext + 1 == _smoothing ? 0 : _ringNext + 1;
            if (_ringCount < _smoothing)
            {
                _ringCount++;
            }

            int k = _ringCount;
            float share = 1f / k;
            for (int i = 0; i < n; i++)
            {
                float sum = 0f;
                for (int j = 0; j < k; j++)
                {
                    sum += ring[j * n + i];
                }

                float z = sum * share;
                input[i] = z;
                input[n + i] = z < 0f ? -z : z;
            }
        }

        /// <summary>Forgets the smoothing history (the windows before a gap are not this window's neighbours).</summary>
        public void RestartSmoothing()
        {
            _ringCount = 0;
            _ringNext = 0;
        }

        /// <summary>Forgets everything learned: the next <see cref="Windows"/> windows are learned again.</summary>
        public void Reset()
        {
            System.Array.Clear(_mean, 0, _features);
            System.Array.Clear(_m2, 0, _features);
            System.Array.Clear(_scale, 0, _features);
            _learned = 0;
            RestartSmoothing();
        }

        /// <summary>A copy with the same learned state and an empty smoothing history.</summary>
        public HealthyBaseline Copy()
        {
            HealthyBaseline c = new HealthyBaseline(_features, _windows, _smoothing);
            System.Array.Copy(_mean, c._mean, _features);
            System.Array.Copy(_m2, c._m2, _features);
            System.Array.Copy(_scale, c._scale, _features);
            c._learned = _learned;
            return c;
        }

        /// <summary>Stores a ready baseline in <paramref name="storage"/> (one write: a torn file fails its CRC and is learned again).</summary>
        public void Save(IModelStorage storage)
        {
            int n = _features;
            byte[] b = new byte[HeaderBytes + 8 * n + 4];
            LittleEndian.WriteUInt32(b, 0, Magic);
            LittleEndian.WriteInt32(b, 4, n);
            LittleEndian.WriteInt32(b, 8, _windows);
            LittleEndian.WriteInt32(b, 12, _learned);
            for (int i = 0; i < n; i++)
            {
                LittleEndian.WriteSingle(b, HeaderBytes + 4 * i, _mean[i]);
                LittleEndian.WriteSingle(b, HeaderBytes + 4 * (n + i), _m2[i]);
            }

            LittleEndian.WriteUInt32(b, b.Length - 4, Crc32.Compute(b, 0, b.Length - 4));
            storage.Write(FileName, b, 0, b.Length);
        }

        /// <summary>
        /// Takes up a baseline stored by <see cref="Save"/> for this feature count and window count; false (and
        /// nothing learned) when there is none, or it is torn, corrupt or of another shape.
        /// </summary>
        public bool Load(IModelStorage storage, IFloatMath math)
        {
            int n = _features;
            int length = HeaderBytes + 8 * n + 4;
            if (storage.Length(FileName) != length)
            {
                return false;
            }

            byte[] b = new byte[length];
            if (storage.Read(FileName, 0, b, 0, length) != length
                || LittleEndian.ReadUInt32(b, length - 4) != Crc32.Compute(b, 0, length - 4)
                || LittleEndian.ReadUInt32(b, 0) != Magic || LittleEndian.ReadInt32(b, 4) != n
                || LittleEndian.ReadInt32(b, 8) != _windows || LittleEndian.ReadInt32(b, 12) != _windows)
            {
                return false;
            }

            for (int i = 0; i < n; i++)
            {
                float mean = LittleEndian.ReadSingle(b, HeaderBytes + 4 * i);
                float m2 = LittleEndian.ReadSingle(b, HeaderBytes + 4 * (n + i));
                if (float.IsNaN(mean) || float.IsInfinity(mean) || float.IsNaN(m2) || float.IsInfinity(m2) || m2 < 0f)
                {
                    Reset();
                    return false;
                }

                _mean[i] = mean;
                _m2[i] = m2;
            }

            _learned = _windows;
            FixScales(math);
            RestartSmoothing();
            return true;
        }

        private void FixScales(IFloatMath math)
        {
            float count = _learned;
            for (int i = 0; i < _features; i++)
            {
                float variance = _m2[i] / count;
                _scale[i] = 1f / (math.Sqrt(variance > 0f ? variance : 0f) + SdFloor);
            }
        }
    }
}
