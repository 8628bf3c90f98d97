namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>SQUARED_ERROR: sum of squared differences of two int8 vectors (a reconstruction error), int32 out. Operands: a, b, output.</summary>
    public sealed class SquaredErrorKernel : Int8Kernel
    {
        private sbyte[] _a = new sbyte[0];
        private sbyte[] _b = new sbyte[0];
        private int[] _out = new int[0];
        private int _n;

        /// <inheritdoc />
        public override int OperandCount
        {
            get { return 3; }
        }

        /// <inheritdoc />
        public override void Prepare(KernelContext c)
        {
            int aT = c.Operand(0), bT = c.Operand(1), outT = c.Operand(2);
            _n = c.Length(aT);
            c.Expect(aT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "first input");
            c.Expect(bT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "second input");
            c.Expect(outT, ModelFormat.TypeInt32, ModelFormat.KindActivation, 1, "output");
            c.SameQuantisation(aT, bT);
            _a = c.Int8(aT);
            _b = c.Int8(bT);
            _out = c.Int32(outT);
            Macs = _n;
        }

        /// <inheritdoc />
        public override void Eval(byte[] blob)
        {
            sbyte[] a = _a;
            sbyte[] b = _b;
            int n = _n;
            int sum = 0;
            for (int i = 0; i < n; i++)
            {
                int d = a[i] - b[i];
                sum += d * d;
            }

            _out[0] = sum;
        }
    }
}
