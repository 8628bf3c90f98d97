namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// One op with its operands resolved to arrays at load, so the interpreter reads only fields and locals.
    /// Which fields are set depends on <see cref="Code"/>.
    /// </summary>
    internal sealed class Int8Op
    {
        public int Code;
        public int N;            // input length
        public int M;            // output length (FC), centroid count (distance)
        public float[]? FloatIn;
        public float[]? Mul;
        public float[]? Add;
        public sbyte[]? In;
        public sbyte[]? In2;
        public sbyte[]? Out8;
        public int[]? Out32;
        public int WeightOffset; // int8 weights stay in the blob: offset of row 0
        public int[]? Bias;
        public int[]? Multiplier;
        public int[]? Shift;
        public int InputOffset;  // -zero point of the input
        public int OutputZeroPoint;
        public int ActMin;
        public int ActMax;
        public long Macs;
    }
}
