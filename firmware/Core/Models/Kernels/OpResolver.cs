namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// The one place an opcode becomes a kernel. Adding an op: its kernel file under Kernels/ and one line here
    /// (and its writer and reference in the quantizer, which mirror these files one to one).
    /// </summary>
    public static class OpResolver
    {
        /// <summary>A new kernel for <paramref name="code"/>, or null for an opcode this firmware does not run.</summary>
        public static Int8Kernel? Create(int code)
        {
            switch (code)
            {
                case ModelFormat.OpQuantize: return new QuantizeKernel();
                case ModelFormat.OpFullyConnected: return new FullyConnectedKernel();
                case ModelFormat.OpRelu: return new ReluKernel();
                case ModelFormat.OpSquaredError: return new SquaredErrorKernel();
                case ModelFormat.OpMinSquaredDistance: return new MinSquaredDistanceKernel();
                default: return null;
            }
        }
    }
}
