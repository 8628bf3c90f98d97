using TinyMlops.Firmware.Core.Features;

namespace TinyMlops.InterpBench.Baseline
{
    /// <summary>
    /// The node's real FFT as it was before the interpreter-shaped rewrite (commit 6a9282a), unchanged: the bench's
    /// in-process baseline, so the speed-up is a ratio measured in one run, not a remembered figure.
    /// </summary>
    public sealed class BaselineRealFft
    {
        private readonly int _n;
        private readonly int _half;
        private readonly int[] _bitReverse;
        private readonly float[] _cos;   // e^{-2*pi*i*k/N} for k = 0..N/2-1 (FFT of N/2 uses every other one)
        private readonly float[] _sin;
        private readonly float[] _re;
        private readonly float[] _im;

        /// <summary>Builds the tables for length <paramref name="n"/> (a power of two, 4..8192).</summary>
        public BaselineRealFft(int n, IFloatMath math)
        {
            if (n < 4 || n > 8192 || (n & (n - 1)) != 0)
            {
                throw new System.ArgumentException("FFT length must be a power of two between 4 and 8192", "n");
            }

            _n = n;
            _half = n / 2;
            _re = new float[_half];
            _im = new float[_half];
            _cos = new float[_half];
            _sin = new float[_half];
            for (int k = 0; k < _half; k++)
            {
                float angle = (float)(2.0 * System.Math.PI * k / n);
                _cos[k] = math.Cos(angle);
                _sin[k] = -math.Sin(angle);
            }

            int bits = 0;
            while ((1 << bits) < _half)
            {
                bits++;
            }

            _bitReverse = new int[_half];
            for (int i = 0; i < _half; i++)
            {
                int r = 0;
                for (int b = 0; b < bits; b++)
                {
                    r |= ((i >> b) & 1) << (bits - 1 - b);
                }

                _bitReverse[i] = r;
            }
        }

        /// <summary>Transform length N.</summary>
        public int Length
        {
            get { return _n; }
        }

        /// <summary>
        /// Writes |X_k|^2 for k = 0..N/2 into <paramref name="power"/> (length at least N/2+1) for the real signal
        /// <paramref name="x"/> (length N).
        /// </summary>
        public void PowerSpectrum(float[] x, float[] power)
        {
            int half = _half;
            float[] re = _re;
            float[] im = _im;
            int[] rev = _bitReverse;
            for (int i = 0; i < half; i++)
            {
                int j = rev[i];
                re[j] = x[2 * i];
                im[j] = x[(2 * i) + 1];
            }

            // Iterative radix-2 butterflies over N/2 points; twiddle for the N/2 FFT is table[2*k].
            float[] ct = _cos;
            float[] st = _sin;
            for (int size = 2; size <= half; size <<= 1)
            {
                int step = half / size * 2;
                int halfSize = size >> 1;
                for (int start = 0; start < half; start += size)
                {
                    int t = 0;
                    for (int k = 0; k < halfSize; k++)
                    {
                        float wr = ct[t];
                        float wi = st[t];
                        int a = start + k;
                        int b = a + halfSize;
                        float br = (re[b] * wr) - (im[b] * wi);
                        float bi = (re[b] * wi) + (im[b] * wr);
                        re[b] = re[a] - br;
                        im[b] = im[a] - bi;
                        re[a] = re[a] + br;
                        im[a] = im[a] + bi;
                        t += step;
                    }
                }
            }

            // Split: X_k = (Z_k + conj Z_{N/2-k})/2 - i e^{-2 pi i k/N} (Z_k - conj Z_{N/2-k})/2.
            float dc = re[0] + im[0];
            float nyquist = re[0] - im[0];
            power[0] = dc * dc;
            power[half] = nyquist * nyquist;
            for (int k = 1; k < half; k++)
            {
                int m = half - k;
                float er = 0.5f * (re[k] + re[m]);
                float ei = 0.5f * (im[k] - im[m]);
                float or = 0.5f * (im[k] + im[m]);
                float oi = -0.5f * (re[k] - re[m]);
                float wr = ct[k];
                float wi = st[k];
                float xr = er + ((wr * or) - (wi * oi));
                float xi = ei + ((wr * oi) + (wi * or));
                power[k] = (xr * xr) + (xi * xi);
            }
        }
    }
}
