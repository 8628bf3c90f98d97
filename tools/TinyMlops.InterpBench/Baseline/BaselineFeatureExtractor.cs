using TinyMlops.Firmware.Core.Features;

namespace TinyMlops.InterpBench.Baseline
{
    /// <summary>
    /// The node's feature extractor as it was before the interpreter-shaped rewrite (commit 6a9282a), unchanged: the bench's
    /// in-process baseline, so the speed-up is a ratio measured in one run, not a remembered figure.
    /// </summary>
    public sealed class BaselineFeatureExtractor
    {
        /// <summary>Statistics per axis before the band energies.</summary>
        public const int StatsPerAxis = 4;

        /// <summary>Floor added to a band energy before the logarithm (g^2), so silence gives a finite feature.</summary>
        public const float EnergyFloor = 1e-12f;

        /// <summary>Status: features computed.</summary>
        public const int StatusOk = 0;

        /// <summary>Status: a sample was NaN or infinite; the feature vector was not touched.</summary>
        public const int StatusNonFiniteSample = 1;

        /// <summary>Status: an array had the wrong length.</summary>
        public const int StatusWrongLength = 2;

        private readonly int _n;
        private readonly int _bands;
        private readonly IFloatMath _math;
        private readonly BaselineRealFft _fft;
        private readonly float[] _hann;
        private readonly float _powerScale;
        private readonly int[] _bandStart;   // first bin of each band; _bandStart[_bands] = one past the last bin
        private readonly float[] _work;
        private readonly float[] _power;

        /// <summary>
        /// <paramref name="windowLength"/>: samples per axis (a power of two, 16..8192);
        /// <paramref name="bandCount"/>: equal-width frequency bands over bins 1..N/2 (1..N/4).
        /// </summary>
        public BaselineFeatureExtractor(int windowLength, int bandCount, IFloatMath math)
        {
            if (windowLength < 16 || windowLength > 8192 || (windowLength & (windowLength - 1)) != 0)
            {
                throw new System.ArgumentException("window length must be a power of two between 16 and 8192", "windowLength");
            }

            if (bandCount < 1 || bandCount > windowLength / 4)
            {
                throw new System.ArgumentException("band count must be between 1 and window length / 4", "bandCount");
            }

            _n = windowLength;
            _bands = bandCount;
            _math = math;
            _fft = new BaselineRealFft(windowLength, math);
            _hann = new float[windowLength];
            float sumSquares = 0f;
            for (int i = 0; i < windowLength; i++)
            {
                float c = math.Cos((float)(2.0 * System.Math.PI * i / windowLength));
                float w = 0.5f - (0.5f * c);
                _hann[i] = w;
                sumSquares += w * w;
            }

            // One-sided power normalised so that the bins sum to the mean square of the signal (Parseval with the
            // window's power loss undone): P_k = 2 |X_k|^2 / (N * sum w^2), the Nyquist bin once.
            _powerScale = 2f / (windowLength * sumSquares);
            int halfBins = windowLength / 2;
            _bandStart = new int[bandCount + 1];
            for (int b = 0; b <= bandCount; b++)
            {
                _bandStart[b] = 1 + (b * halfBins / bandCount);
            }

            _work = new float[windowLength];
            _power = new float[halfBins + 1];
        }

        /// <summary>Samples per axis in one window.</summary>
        public int WindowLength
        {
            get { return _n; }
        }

        /// <summary>Frequency bands per axis.</summary>
        public int BandCount
        {
            get { return _bands; }
        }

        /// <summary>Length of the feature vector: 3 * (4 + bands).</summary>
        public int FeatureCount
        {
            get { return 3 * (StatsPerAxis + _bands); }
        }

        /// <summary>First FFT bin of band <paramref name="band"/> (band = BandCount gives one past the last bin).</summary>
        public int BandStartBin(int band)
        {
            return _bandStart[band];
        }

        /// <summary>
        /// Computes the features of one window: <paramref name="x"/>, <paramref name="y"/>, <paramref name="z"/> hold
        /// <see cref="WindowLength"/> samples each (in g); <paramref name="features"/> receives
        /// <see cref="FeatureCount"/> values. Returns a status; never throws for bad samples and never allocates.
        /// </summary>
        public int Compute(float[] x, float[] y, float[] z, float[] features)
        {
            if (x == null || y == null || z == null || features == null || x.Length != _n || y.Length != _n || z.Length != _n || features.Length != FeatureCount)
            {
                return StatusWrongLength;
            }

            if (!AllFinite(x) || !AllFinite(y) || !AllFinite(z))
            {
                return StatusNonFiniteSample;
            }

            int per = StatsPerAxis + _bands;
            ComputeAxis(x, features, 0);
            ComputeAxis(y, features, per);
            ComputeAxis(z, features, 2 * per);
            return StatusOk;
        }

        private static bool AllFinite(float[] a)
        {
            for (int i = 0; i < a.Length; i++)
            {
                float v = a[i];
                if (v - v != 0f)
                {
                    return false;
                }
            }

            return true;
        }

        private void ComputeAxis(float[] samples, float[] features, int at)
        {
            int n = _n;
            float[] d = _work;
            float sum = 0f;
            for (int i = 0; i < n; i++)
            {
                sum += samples[i];
            }

            float mean = sum / n;
            float m2 = 0f;
            float m4 = 0f;
            float peak = 0f;
            for (int i = 0; i < n; i++)
            {
                float v = samples[i] - mean;
                d[i] = v;
                float v2 = v * v;
                m2 += v2;
                m4 += v2 * v2;
                float a = v < 0f ? -v : v;
                if (a > peak)
                {
                    peak = a;
                }
            }

            m2 /= n;
            m4 /= n;
            float rms = _math.Sqrt(m2);
            features[at] = rms;
            features[at + 1] = peak;
            features[at + 2] = rms > 0f ? peak / rms : 0f;
            features[at + 3] = m2 > 0f ? m4 / (m2 * m2) : 0f;

            float[] w = _hann;
            for (int i = 0; i < n; i++)
            {
                d[i] = d[i] * w[i];
            }

            float[] p = _power;
            _fft.PowerSpectrum(d, p);
            int half = n / 2;
            float scale = _powerScale;
            for (int b = 0; b < _bands; b++)
            {
                float e = 0f;
                int end = _bandStart[b + 1];
                for (int k = _bandStart[b]; k < end; k++)
                {
                    e += k == half ? 0.5f * p[k] : p[k];
                }

                features[at + StatsPerAxis + b] = _math.Log10((e * scale) + EnergyFloor);
            }
        }
    }
}
