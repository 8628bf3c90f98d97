namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// FULLY_CONNECTED: int8 x int8 with int32 bias, per-output-channel requantisation (TFLM's
    /// MultiplyByQuantizedMultiplier) and activation clamp. Operands: input, weights (read in place from the blob),
    /// bias, multiplier, shift, output.
    /// </summary>
    public sealed class FullyConnectedKernel : Int8Kernel
    {
        private sbyte[] _in = new sbyte[0];
        private sbyte[] _out = new sbyte[0];
        private int[] _bias = new int[0];
        private int[] _multiplier = new int[0];
        private int[] _shift = new int[0];
        private int _n;
        private int _m;
        private int _weights;
        private int _inputOffset;
        private int _outputZeroPoint;
        private int _actMin;
        private int _actMax;

        /// <inheritdoc />
        public override int OperandCount
        {
            get { return 6; }
        }

        /// <inheritdoc />
        public override bool UsesActivationBounds
        {
            get { return true; }
        }

        /// <inheritdoc />
        public override void Prepare(KernelContext c)
        {
            int inT = c.Operand(0), wT = c.Operand(1), bT = c.Operand(2), mT = c.Operand(3), sT = c.Operand(4), outT = c.Operand(5);
            _n = c.Length(inT);
            _m = c.Length(outT);
            c.Expect(inT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _n, "input");
            c.Expect(wT, ModelFormat.TypeInt8, ModelFormat.KindConstant, _n * _m, "weights");
            c.Expect(bT, ModelFormat.TypeInt32, ModelFormat.KindConstant, _m, "bias");
            c.Expect(mT, ModelFormat.TypeInt32, ModelFormat.KindConstant, _m, "multiplier");
            c.Expect(sT, ModelFormat.TypeInt8, ModelFormat.KindConstant, _m, "shift");
            c.Expect(outT, ModelFormat.TypeInt8, ModelFormat.KindActivation, _m, "output");
            if (c.ActMin > c.ActMax)
            {
                throw c.Fail("activation min " + c.ActMin + " exceeds max " + c.ActMax);
            }

            _in = c.Int8(inT);
            _out = c.Int8(outT);
            _weights = c.Offset(wT);
            _bias = c.ReadInts(bT, _m);
            _multiplier = c.ReadInts(mT, _m);
            _shift = new int[_m];
            byte[] blob = c.ModelBlob;
            int shiftAt = c.Offset(sT);
            for (int ch = 0; ch < _m; ch++)
            {
                int shift = (sbyte)blob[shiftAt + ch];
                if (_multiplier[ch] < 0)
                {
                    throw c.Fail("channel " + ch + " has a negative multiplier");
                }

                if (shift < -31 || shift > 30)
                {
                    throw c.Fail("channel " + ch + " shift " + shift + " is outside -31..30");
                }

                _shift[ch] = shift;
            }

            _inputOffset = -c.ZeroPoint(inT);
            _outputZeroPoint = c.ZeroPoint(outT);
            _actMin = c.ActMin;
            _actMax = c.ActMax;
            Macs = (long)_n * _m;
            TableBytes = 12 * _m;
        }

        /// <inheritdoc />
        public override void Eval(byte[] blob)
        {
            sbyte[] x = _in;
            sbyte[] y = _out;
            int[] bias = _bias;
            int[] mult = _multiplier;
            int[] shift = _shift;
            int n = _n;
            int m = _m;
            int inOffset = _inputOffset;
            int outZp = _outputZeroPoint;
            int lo = _actMin;
            int hi = _actMax;
            int w = _weights;
            for (int o = 0; o < m; o++)
            {
                int acc = bias[o];
                for (int i = 0; i < n; i++)
                {
                    acc += (sbyte)blob[w + i] * (x[i] + inOffset);
                }

                w += n;
                int v = Quantization.MultiplyByQuantizedMultiplier(acc, mult[o], shift[o]) + outZp;
                y[o] = (sbyte)(v < lo ? lo : (v > hi ? hi : v));
            }
        }
    }
}
