namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>RELU: int8 clamp at the zero point; input and output share their quantisation. Operands: input, output.</summary>
    public sealed class ReluKernel : Int8Kernel
    {
        private sbyte[] _in = new sbyte[0];
        private sbyte[] _out = new sbyte[0];
        private int _n;
        private int _zeroPoint;

        /// <inheritdoc />
        public override int OperandCount
        {
            get { return 2; }
        }

        /// <inheritdoc />
        public override void Prepare(KernelContext c)
        {
            int inT = c.Operand(0), outT = c.Operand(1);
            _n = c.Length(inT);
            c.Expect(inT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "input");
            c.Expect(outT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "output");
            c.SameQuantisation(inT, outT);
            _in = c.Int8(inT);
            _out = c.Int8(outT);
            _zeroPoint = c.ZeroPoint(outT);
        }

        /// <inheritdoc />
        public override void Eval(byte[] blob)
        {
            sbyte[] src = _in;
            sbyte[] dst = _out;
            int zp = _zeroPoint;
            int n = _n;
            for (int i = 0; i < n; i++)
            {
                int v = src[i];
                dst[i] = (sbyte)(v < zp ? zp : v);
            }
        }
    }
}
