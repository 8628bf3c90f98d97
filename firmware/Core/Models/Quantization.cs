namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// Fixed-point requantisation exactly as TensorFlow Lite Micro's reference kernels compute it
    /// (tensorflow/lite/kernels/internal/common.h, the default double-rounding path): a Q31 multiplier applied with
    /// a saturating rounding doubling high multiply, then a rounding right shift. See docs/quantized-arithmetic.md.
    /// </summary>
    public static class Quantization
    {
        /// <summary>
        /// x * multiplier * 2^shift / 2^31, rounded as TFLM's <c>MultiplyByQuantizedMultiplier</c>.
        /// <paramref name="shift"/> &gt; 0 shifts left before the multiply, &lt; 0 rounds right after it.
        /// </summary>
        public static int MultiplyByQuantizedMultiplier(int x, int multiplier, int shift)
        {
            int leftShift = shift > 0 ? shift : 0;
            int rightShift = shift > 0 ? 0 : -shift;
            return RoundingDivideByPowerOfTwo(SaturatingRoundingDoublingHighMul(unchecked(x * (1 << leftShift)), multiplier), rightShift);
        }

        /// <summary>gemmlowp's SaturatingRoundingDoublingHighMul: (a*b*2 + 2^31 rounding) / 2^32, saturating the one overflow case.</summary>
        public static int SaturatingRoundingDoublingHighMul(int a, int b)
        {
            if (a == b && a == int.MinValue)
            {
                return int.MaxValue;
            }

            long ab = (long)a * b;
            long nudge = ab >= 0 ? (1L << 30) : (1L - (1L << 30));
            // C's integer division truncates toward zero, as C#'s does; a shift would round toward minus infinity.
            return (int)((ab + nudge) / (1L << 31));
        }

        /// <summary>gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero.</summary>
        public static int RoundingDivideByPowerOfTwo(int x, int exponent)
        {
            int mask = (int)((1L << exponent) - 1);
            int remainder = x & mask;
            int threshold = (mask >> 1) + (x < 0 ? 1 : 0);
            return (x >> exponent) + (remainder > threshold ? 1 : 0);
        }
    }
}
