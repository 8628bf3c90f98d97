namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>QUANTIZE: float features standardised (x * mul + add) and rounded to int8. Operands: input, mul, add, output.</summary>
    public sealed class QuantizeKernel : Int8Kernel
    {
        private float[] _in = new float[0];
        private float[] _mul = new float[0];
        private float[] _add = new float[0];
        private sbyte[] _out = new sbyte[0];
        private int _n;

        /// <inheritdoc />
        public override int OperandCount
        {
            get { return 4; }
        }

        /// <inheritdoc />
        public override void Prepare(KernelContext c)
        {
            int inT = c.Operand(0), mulT = c.Operand(1), addT = c.Operand(2), outT = c.Operand(3);
            _n = c.Length(inT);
            c.Expect(inT, ModelFormat.TypeFloat32, ModelFormat.KindActivation, _n, "input");
            c.Expect(mulT, ModelFormat.TypeFloat32, ModelFormat.KindConstant, _n, "multiplier");
            c.Expect(addT, ModelFormat.TypeFloat32, ModelFormat.KindConstant, _n, "offset");
            c.Expect(outT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "output");
            _in = c.Float(inT);
            _mul = c.ReadFloats(mulT, _n);
            _add = c.ReadFloats(addT, _n);
            _out = c.Int8(outT);
            TableBytes = 8 * _n;
        }

        /// <inheritdoc />
        public override void Eval(byte[] blob)
        {
            float[] x = _in;
            float[] mul = _mul;
            float[] add = _add;
            sbyte[] dst = _out;
            int n = _n;
            for (int i = 0; i < n; i++)
            {
                // Two separately rounded IEEE single operations (no fused multiply-add), then round half away
                // from zero, saturating to int8. Identical on every IEEE-754 platform.
                float v = x[i] * mul[i];
                v = v + add[i];
                int q;
                if (v >= 127f)
                {
                    q = 127;
                }
                else if (v <= -128f)
                {
                    q = -128;
                }
                else
                {
                    q = (int)v;
                    float frac = v - q;
                    if (frac >= 0.5f)
                    {
                        q++;
                    }
                    else if (frac <= -0.5f)
                    {
                        q--;
                    }
                }

                dst[i] = (sbyte)q;
            }
        }
    }
}
