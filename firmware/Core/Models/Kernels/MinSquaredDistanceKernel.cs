namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// MIN_SQUARED_DISTANCE: squared distance from an int8 vector to the nearest int8 centroid (read in place from the
    /// blob), and optionally that centroid's index. Operands: input, centroids, output (int32, length 1 or 2).
    /// </summary>
    public sealed class MinSquaredDistanceKernel : Int8Kernel
    {
        private sbyte[] _in = new sbyte[0];
        private int[] _out = new int[0];
        private int _n;
        private int _k;
        private int _centroids;
        private bool _withIndex;

        /// <inheritdoc />
        public override int OperandCount
        {
            get { return 3; }
        }

        /// <inheritdoc />
        public override void Prepare(KernelContext c)
        {
            int inT = c.Operand(0), cT = c.Operand(1), outT = c.Operand(2);
            _n = c.Length(inT);
            c.Expect(inT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "input");
            if (c.TypeOf(cT) != ModelFormat.TypeInt8 || c.KindOf(cT) != ModelFormat.KindConstant || c.Length(cT) % _n != 0)
            {
                throw c.Fail("centroids must be an int8 constant whose length is a multiple of " + _n);
            }

            _k = c.Length(cT) / _n;
            if (c.TypeOf(outT) != ModelFormat.TypeInt32 || (c.Length(outT) != 1 && c.Length(outT) != 2))
            {
                throw c.Fail("output must be an int32 activation of length 1 (distance) or 2 (distance, index)");
            }

            _in = c.Int8(inT);
            _centroids = c.Offset(cT);
            _out = c.Int32(outT);
            _withIndex = c.Length(outT) == 2;
            Macs = (long)_n * _k;
        }

        /// <inheritdoc />
        public override void Eval(byte[] blob)
        {
            sbyte[] x = _in;
            int n = _n;
            int k = _k;
            int c = _centroids;
            int best = int.MaxValue;
            int bestIndex = 0;
            for (int j = 0; j < k; j++)
            {
                int sum = 0;
                for (int i = 0; i < n; i++)
                {
                    int d = x[i] - (sbyte)blob[c + i];
                    sum += d * d;
                }

                c += n;
                if (sum < best)
                {
                    best = sum;
                    bestIndex = j;
                }
            }

            _out[0] = best;
            if (_withIndex)
            {
                _out[1] = bestIndex;
            }
        }
    }
}
