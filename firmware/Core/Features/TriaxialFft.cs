namespace TinyMlops.Firmware.Core.Features
{
    /// <summary>
    /// Radix-2 real FFT of three axes at once, shaped for an IL interpreter: each axis's N real samples are packed
    /// into N/2 complex values (the caller writes them, bit-reversed, into <see cref="ReX"/>…<see cref="ImZ"/>), and
    /// every pass works on all three axes, so the loop, its index arithmetic and its twiddle reads are paid once for
    /// three butterflies. The first two stages have the trivial twiddles 1 and -i and run as one multiply-free pass;
    /// each later stage loops over twiddles outside and butterflies inside, so a twiddle is read once per stage.
    /// The split into the real spectrum computes bins k and N/2-k from the same four reads. Tables and buffers are
    /// built once; nothing allocates after construction. Not thread-safe.
    /// </summary>
    public sealed class TriaxialFft
    {
        private readonly int _n;
        private readonly int _half;
        private readonly int[] _bitReverse;
        private readonly float[] _cos;   // e^{-2*pi*i*k/N} for k = 0..N/2-1 (the N/2-point FFT uses every other one)
        private readonly float[] _sin;

        /// <summary>Real parts of the packed x axis (length N/2), written by the caller at bit-reversed positions.</summary>
        internal readonly float[] ReX;

        /// <summary>Imaginary parts of the packed x axis.</summary>
        internal readonly float[] ImX;

        /// <summary>Real parts of the packed y axis.</summary>
        internal readonly float[] ReY;

        /// <summary>Imaginary parts of the packed y axis.</summary>
        internal readonly float[] ImY;

        /// <summary>Real parts of the packed z axis.</summary>
        internal readonly float[] ReZ;

        /// <summary>Imaginary parts of the packed z axis.</summary>
        internal readonly float[] ImZ;

        /// <summary>Builds the tables for length <paramref name="n"/> (a power of two, 8..8192).</summary>
        public TriaxialFft(int n, IFloatMath math)
        {
            if (n < 8 || n > 8192 || (n & (n - 1)) != 0)
            {
                throw new System.ArgumentException("FFT length must be a power of two between 8 and 8192", "n");
            }

            _n = n;
            _half = n / 2;
            int half = _half;
            ReX = new float[half];
            ImX = new float[half];
            ReY = new float[half];
            ImY = new float[half];
            ReZ = new float[half];
            ImZ = new float[half];
            _cos = new float[half];
            _sin = new float[half];
            for (int k = 0; k < half; k++)
            {
                float angle = (float)(2.0 * System.Math.PI * k / n);
                _cos[k] = math.Cos(angle);
                _sin[k] = -math.Sin(angle);
            }

            int bits = 0;
            while ((1 << bits) < half)
            {
                bits++;
            }

            _bitReverse = new int[half];
            for (int i = 0; i < half; i++)
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

        /// <summary>Bytes of tables and buffers this transform holds (for the node's RAM budget).</summary>
        public static int WorkingBytesFor(int n)
        {
            // six packed halves, cos and sin tables (floats), the bit-reversal table (ints)
            return (6 + 2 + 1) * 4 * (n / 2);
        }

        /// <summary>Position at which packed complex sample <paramref name="i"/> (samples 2i, 2i+1) is written.</summary>
        internal int[] BitReverse
        {
            get { return _bitReverse; }
        }

        /// <summary>Transforms the three packed axes in place (call after writing them).</summary>
        public void Transform()
        {
            int half = _half;
            float[] rx = ReX;
            float[] ix = ImX;
            float[] ry = ReY;
            float[] iy = ImY;
            float[] rz = ReZ;
            float[] iz = ImZ;

            // Stages 1 and 2 (sizes 2 and 4): twiddles 1 and -i, no multiplies. Block p..p+3 of bit-reversed data.
            for (int p = 0; p < half; p += 4)
            {
                int p1 = p + 1;
                int p2 = p + 2;
                int p3 = p + 3;
                float a0 = rx[p];
                float a1 = rx[p1];
                float a2 = rx[p2];
                float a3 = rx[p3];
                float b0 = ix[p];
                float b1 = ix[p1];
                float b2 = ix[p2];
                float b3 = ix[p3];
                float s0 = a0 + a1;
                float s1 = a0 - a1;
                float s2 = a2 + a3;
                float s3 = a2 - a3;
                float t0 = b0 + b1;
                float t1 = b0 - b1;
                float t2 = b2 + b3;
                float t3 = b2 - b3;
                rx[p] = s0 + s2;
                ix[p] = t0 + t2;
                rx[p2] = s0 - s2;
                ix[p2] = t0 - t2;
                rx[p1] = s1 + t3;   // (s3, t3) times -i is (t3, -s3)
                ix[p1] = t1 - s3;
                rx[p3] = s1 - t3;
                ix[p3] = t1 + s3;

                a0 = ry[p];
                a1 = ry[p1];
                a2 = ry[p2];
                a3 = ry[p3];
                b0 = iy[p];
                b1 = iy[p1];
                b2 = iy[p2];
                b3 = iy[p3];
                s0 = a0 + a1;
                s1 = a0 - a1;
                s2 = a2 + a3;
                s3 = a2 - a3;
                t0 = b0 + b1;
                t1 = b0 - b1;
                t2 = b2 + b3;
                t3 = b2 - b3;
                ry[p] = s0 + s2;
                iy[p] = t0 + t2;
                ry[p2] = s0 - s2;
                iy[p2] = t0 - t2;
                ry[p1] = s1 + t3;
                iy[p1] = t1 - s3;
                ry[p3] = s1 - t3;
                iy[p3] = t1 + s3;

                a0 = rz[p];
                a1 = rz[p1];
                a2 = rz[p2];
                a3 = rz[p3];
                b0 = iz[p];
                b1 = iz[p1];
                b2 = iz[p2];
                b3 = iz[p3];
                s0 = a0 + a1;
                s1 = a0 - a1;
                s2 = a2 + a3;
                s3 = a2 - a3;
                t0 = b0 + b1;
                t1 = b0 - b1;
                t2 = b2 + b3;
                t3 = b2 - b3;
                rz[p] = s0 + s2;
                iz[p] = t0 + t2;
                rz[p2] = s0 - s2;
                iz[p2] = t0 - t2;
                rz[p1] = s1 + t3;
                iz[p1] = t1 - s3;
                rz[p3] = s1 - t3;
                iz[p3] = t1 + s3;
            }

            // Later stages two at a time (sizes S and 2S, radix 2^2): four points stay in locals across both, so each
            // is read and written once per two stages. Twiddles are read per k, outside the loop over groups, and
            // shared by the three axes. The second stage's odd pair uses W_2S^(k+S/2) = -i W_2S^k.
            float[] ct = _cos;
            float[] st = _sin;
            int size = 8;
            float e0r, e0i, e1r, e1i, e2r, e2i, e3r, e3i, f0r, f0i, f1r, f1i, f2r, f2i, f3r, f3i, tr, ti;
            for (; size * 2 <= half; size <<= 2)
            {
                int h = size >> 1;
                int stepS = half / size * 2;
                int stepS2 = stepS >> 1;
                int block = size << 1;
                for (int k = 0; k < h; k++)
                {
                    float ur = ct[k * stepS];
                    float ui = st[k * stepS];
                    float vr = ct[k * stepS2];
                    float vi = st[k * stepS2];
                    for (int a0 = k; a0 < half; a0 += block)
                    {
                        int a1 = a0 + h;
                        int a2 = a1 + h;
                        int a3 = a2 + h;
                        e0r = rx[a0];
                        e0i = ix[a0];
                        e1r = rx[a1];
                        e1i = ix[a1];
                        e2r = rx[a2];
                        e2i = ix[a2];
                        e3r = rx[a3];
                        e3i = ix[a3];
                        tr = (e1r * ur) - (e1i * ui);
                        ti = (e1r * ui) + (e1i * ur);
                        f0r = e0r + tr;
                        f0i = e0i + ti;
                        f1r = e0r - tr;
                        f1i = e0i - ti;
                        tr = (e3r * ur) - (e3i * ui);
                        ti = (e3r * ui) + (e3i * ur);
                        f2r = e2r + tr;
                        f2i = e2i + ti;
                        f3r = e2r - tr;
                        f3i = e2i - ti;
                        tr = (f2r * vr) - (f2i * vi);
                        ti = (f2r * vi) + (f2i * vr);
                        rx[a0] = f0r + tr;
                        ix[a0] = f0i + ti;
                        rx[a2] = f0r - tr;
                        ix[a2] = f0i - ti;
                        tr = (f3r * vi) + (f3i * vr);   // -i (v f3): the second stage's twiddle for the odd pair
                        ti = (f3i * vi) - (f3r * vr);
                        rx[a1] = f1r + tr;
                        ix[a1] = f1i + ti;
                        rx[a3] = f1r - tr;
                        ix[a3] = f1i - ti;

                        e0r = ry[a0];
                        e0i = iy[a0];
                        e1r = ry[a1];
                        e1i = iy[a1];
                        e2r = ry[a2];
                        e2i = iy[a2];
                        e3r = ry[a3];
                        e3i = iy[a3];
                        tr = (e1r * ur) - (e1i * ui);
                        ti = (e1r * ui) + (e1i * ur);
                        f0r = e0r + tr;
                        f0i = e0i + ti;
                        f1r = e0r - tr;
                        f1i = e0i - ti;
                        tr = (e3r * ur) - (e3i * ui);
                        ti = (e3r * ui) + (e3i * ur);
                        f2r = e2r + tr;
                        f2i = e2i + ti;
                        f3r = e2r - tr;
                        f3i = e2i - ti;
                        tr = (f2r * vr) - (f2i * vi);
                        ti = (f2r * vi) + (f2i * vr);
                        ry[a0] = f0r + tr;
                        iy[a0] = f0i + ti;
                        ry[a2] = f0r - tr;
                        iy[a2] = f0i - ti;
                        tr = (f3r * vi) + (f3i * vr);   // -i (v f3): the second stage's twiddle for the odd pair
                        ti = (f3i * vi) - (f3r * vr);
                        ry[a1] = f1r + tr;
                        iy[a1] = f1i + ti;
                        ry[a3] = f1r - tr;
                        iy[a3] = f1i - ti;

                        e0r = rz[a0];
                        e0i = iz[a0];
                        e1r = rz[a1];
                        e1i = iz[a1];
                        e2r = rz[a2];
                        e2i = iz[a2];
                        e3r = rz[a3];
                        e3i = iz[a3];
                        tr = (e1r * ur) - (e1i * ui);
                        ti = (e1r * ui) + (e1i * ur);
                        f0r = e0r + tr;
                        f0i = e0i + ti;
                        f1r = e0r - tr;
                        f1i = e0i - ti;
                        tr = (e3r * ur) - (e3i * ui);
                        ti = (e3r * ui) + (e3i * ur);
                        f2r = e2r + tr;
                        f2i = e2i + ti;
                        f3r = e2r - tr;
                        f3i = e2i - ti;
                        tr = (f2r * vr) - (f2i * vi);
                        ti = (f2r * vi) + (f2i * vr);
                        rz[a0] = f0r + tr;
                        iz[a0] = f0i + ti;
                        rz[a2] = f0r - tr;
                        iz[a2] = f0i - ti;
                        tr = (f3r * vi) + (f3i * vr);   // -i (v f3): the second stage's twiddle for the odd pair
                        ti = (f3i * vi) - (f3r * vr);
                        rz[a1] = f1r + tr;
                        iz[a1] = f1i + ti;
                        rz[a3] = f1r - tr;
                        iz[a3] = f1i - ti;
                    }
                }
            }

            // A last single stage when the stage count is odd.
            if (size <= half)
            {
                int hs = size >> 1;
                int step = half / size * 2;
                float rb, ib, br, bi, ra, ia;
                for (int k = 0; k < hs; k++)
                {
                    float wr = ct[k * step];
                    float wi = st[k * step];
                    for (int a = k; a < half; a += size)
                    {
                        int b = a + hs;
                        rb = rx[b];
                        ib = ix[b];
                        br = (rb * wr) - (ib * wi);
                        bi = (rb * wi) + (ib * wr);
                        ra = rx[a];
                        ia = ix[a];
                        rx[b] = ra - br;
                        ix[b] = ia - bi;
                        rx[a] = ra + br;
                        ix[a] = ia + bi;

                        rb = ry[b];
                        ib = iy[b];
                        br = (rb * wr) - (ib * wi);
                        bi = (rb * wi) + (ib * wr);
                        ra = ry[a];
                        ia = iy[a];
                        ry[b] = ra - br;
                        iy[b] = ia - bi;
                        ry[a] = ra + br;
                        iy[a] = ia + bi;

                        rb = rz[b];
                        ib = iz[b];
                        br = (rb * wr) - (ib * wi);
                        bi = (rb * wi) + (ib * wr);
                        ra = rz[a];
                        ia = iz[a];
                        rz[b] = ra - br;
                        iz[b] = ia - bi;
                        rz[a] = ra + br;
                        iz[a] = ia + bi;
                    }
                }
            }
        }

        /// <summary>
        /// Writes |X_k|^2 for k = 0..N/2 of axis <paramref name="axis"/> (0 x, 1 y, 2 z) into
        /// <paramref name="power"/> (length at least N/2+1), after <see cref="Transform"/>; the Nyquist bin is halved
        /// (<paramref name="halveNyquist"/>) when the caller sums a one-sided spectrum.
        /// </summary>
        public void Power(int axis, float[] power, bool halveNyquist)
        {
            float[] re = axis == 0 ? ReX : axis == 1 ? ReY : ReZ;
            float[] im = axis == 0 ? ImX : axis == 1 ? ImY : ImZ;
            int half = _half;
            float[] ct = _cos;
            float[] st = _sin;

            // Split: X_k = E_k + W^k O_k and X_{N/2-k} = conj(E_k - W^k O_k), with
            // E_k = (Z_k + conj Z_{N/2-k})/2 and O_k = -i (Z_k - conj Z_{N/2-k})/2.
            float dc = re[0] + im[0];
            float nyquist = re[0] - im[0];
            power[0] = dc * dc;
            power[half] = halveNyquist ? 0.5f * (nyquist * nyquist) : nyquist * nyquist;
            int quarter = half >> 1;
            for (int k = 1; k < quarter; k++)
            {
                int m = half - k;
                float rk = re[k];
                float rm = re[m];
                float ik = im[k];
                float im2 = im[m];
                float er = 0.5f * (rk + rm);
                float ei = 0.5f * (ik - im2);
                float or = 0.5f * (ik + im2);
                float oi = -0.5f * (rk - rm);
                float wr = ct[k];
                float wi = st[k];
                float tr = (wr * or) - (wi * oi);
                float ti = (wr * oi) + (wi * or);
                float xr = er + tr;
                float xi = ei + ti;
                power[k] = (xr * xr) + (xi * xi);
                xr = er - tr;
                xi = ei - ti;
                power[m] = (xr * xr) + (xi * xi);
            }

            // k = N/4 is its own mirror: E is real there and W = -i, so X = E + W O once.
            float qr = 0.5f * (re[quarter] + re[quarter]);
            float qo = 0.5f * (im[quarter] + im[quarter]);
            float cr = ct[quarter];
            float ci = st[quarter];
            float yr = qr + (cr * qo);
            float yi = ci * qo;
            power[quarter] = (yr * yr) + (yi * yi);
        }
    }
}
