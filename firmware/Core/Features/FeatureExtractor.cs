namespace TinyMlops.Firmware.Core.Features
{
    /// <summary>
    /// Turns one window of 3-axis acceleration into the feature vector every TinyMlops model takes. The trainer calls
    /// this same code on the host, so training and serving cannot drift apart.
    /// Per axis, in this order: RMS, peak (max |x - mean|), crest factor (peak / RMS), kurtosis (m4 / m2^2, 3 for a
    /// Gaussian), then <see cref="BandCount"/> log10 band energies of the Hann-windowed one-sided power spectrum.
    /// All arithmetic is float; buffers are allocated once. Not thread-safe: one instance per sampling loop.
    /// See docs/features.md for the formulas and the cross-platform tolerance.
    /// </summary>
    public sealed class FeatureExtractor
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
        private readonly TriaxialFft _fft;
        private readonly float[] _hann;
        private readonly float _powerScale;
        private readonly int[] _bandStart;   // first bin of each band; _bandStart[_bands] = one past the last bin
        private readonly float[] _power;
        private readonly float[] _moments = new float[9]; // per axis: m2, m4, peak

        /// <summary>
        /// <paramref name="windowLength"/>: samples per axis (a power of two, 16..8192);
        /// <paramref name="bandCount"/>: equal-width frequency bands over bins 1..N/2 (1..N/4).
        /// </summary>
        public FeatureExtractor(int windowLength, int bandCount, IFloatMath math)
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
            _fft = new TriaxialFft(windowLength, math);
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

            _power = new float[halfBins + 1];
        }

        /// <summary>Bytes of tables and buffers an extractor for <paramref name="windowLength"/> samples holds.</summary>
        public static int WorkingBytesFor(int windowLength, int bandCount)
        {
            // Hann window and power spectrum (floats), band starts (ints), moments, plus the transform's own.
            return (4 * windowLength) + (4 * ((windowLength / 2) + 1)) + (4 * (bandCount + 1)) + (4 * 9) + TriaxialFft.WorkingBytesFor(windowLength);
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

            // Pass 1: the three sums. A NaN or infinite sample makes its axis's sum non-finite, so this pass is also
            // the finiteness check; a finite window whose sum overflows (|x| > 1e34 g) has no finite features either.
            int n = _n;
            float sx = 0f;
            float sy = 0f;
            float sz = 0f;
            for (int i = 0; i < n; i += 2)
            {
                sx += x[i];
                sx += x[i + 1];
                sy += y[i];
                sy += y[i + 1];
                sz += z[i];
                sz += z[i + 1];
            }

            if (sx - sx != 0f || sy - sy != 0f || sz - sz != 0f)
            {
                return StatusNonFiniteSample;
            }

            Pack(x, y, z, sx / n, sy / n, sz / n);
            _fft.Transform();
            int per = StatsPerAxis + _bands;
            Finish(0, features, 0);
            Finish(1, features, per);
            Finish(2, features, 2 * per);
            return StatusOk;
        }

        /// <summary>
        /// Pass 2: deviations from the mean, their moments and peak, and the Hann-windowed deviations written straight
        /// into the transform's packed, bit-reversed input; two samples of each axis per iteration.
        /// </summary>
        private void Pack(float[] x, float[] y, float[] z, float mx, float my, float mz)
        {
            int half = _n / 2;
            int[] rev = _fft.BitReverse;
            float[] w = _hann;
            float[] rx = _fft.ReX;
            float[] ix = _fft.ImX;
            float[] ry = _fft.ReY;
            float[] iy = _fft.ImY;
            float[] rz = _fft.ReZ;
            float[] iz = _fft.ImZ;
            float m2x = 0f, m4x = 0f, px = 0f;
            float m2y = 0f, m4y = 0f, py = 0f;
            float m2z = 0f, m4z = 0f, pz = 0f;
            for (int j = 0; j < half; j++)
            {
                int i = j + j;
                int i1 = i + 1;
                int r = rev[j];
                float w0 = w[i];
                float w1 = w[i1];

                float v = x[i] - mx;
                float v2 = v * v;
                m2x += v2;
                m4x += v2 * v2;
                float a = v < 0f ? -v : v;
                if (a > px)
                {
                    px = a;
                }

                rx[r] = v * w0;
                v = x[i1] - mx;
                v2 = v * v;
                m2x += v2;
                m4x += v2 * v2;
                a = v < 0f ? -v : v;
                if (a > px)
                {
                    px = a;
                }

                ix[r] = v * w1;

                v = y[i] - my;
                v2 = v * v;
                m2y += v2;
                m4y += v2 * v2;
                a = v < 0f ? -v : v;
                if (a > py)
                {
                    py = a;
                }

                ry[r] = v * w0;
                v = y[i1] - my;
                v2 = v * v;
                m2y += v2;
                m4y += v2 * v2;
                a = v < 0f ? -v : v;
                if (a > py)
                {
                    py = a;
                }

                iy[r] = v * w1;

                v = z[i] - mz;
                v2 = v * v;
                m2z += v2;
                m4z += v2 * v2;
                a = v < 0f ? -v : v;
                if (a > pz)
                {
                    pz = a;
                }

                rz[r] = v * w0;
                v = z[i1] - mz;
                v2 = v * v;
                m2z += v2;
                m4z += v2 * v2;
                a = v < 0f ? -v : v;
                if (a > pz)
                {
                    pz = a;
                }

                iz[r] = v * w1;
            }

            float[] mo = _moments;
            mo[0] = m2x;
            mo[1] = m4x;
            mo[2] = px;
            mo[3] = m2y;
            mo[4] = m4y;
            mo[5] = py;
            mo[6] = m2z;
            mo[7] = m4z;
            mo[8] = pz;
        }

        /// <summary>One axis's statistics and band energies from the moments and the transform.</summary>
        private void Finish(int axis, float[] features, int at)
        {
            int n = _n;
            float[] mo = _moments;
            float m2 = mo[3 * axis] / n;
            float m4 = mo[(3 * axis) + 1] / n;
            float peak = mo[(3 * axis) + 2];
            float rms = _math.Sqrt(m2);
            features[at] = rms;
            features[at + 1] = peak;
            features[at + 2] = rms > 0f ? peak / rms : 0f;
            features[at + 3] = m2 > 0f ? m4 / (m2 * m2) : 0f;

            float[] p = _power;
            _fft.Power(axis, p, true);
            float scale = _powerScale;
            int[] bandStart = _bandStart;
            int k = bandStart[0];
            for (int b = 0; b < _bands; b++)
            {
                float e = 0f;
                int end = bandStart[b + 1];
                for (; k < end; k++)
                {
                    e += p[k];
                }

                features[at + StatsPerAxis + b] = _math.Log10((e * scale) + EnergyFloor);
            }
        }
    }
}
