namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// One op of an int8 model, as tflite-micro structures its kernels: <see cref="Prepare"/> checks the op's
    /// operands and resolves them to arrays once, at load; <see cref="Eval"/> runs it, reading only fields and locals
    /// and allocating nothing. One class per op under Kernels/, created by <see cref="OpResolver"/>.
    /// </summary>
    public abstract class Int8Kernel
    {
        /// <summary>Operands the op entry must list (inputs, then the output last).</summary>
        public abstract int OperandCount { get; }

        /// <summary>True when the op reads the entry's activation bounds; other ops must have them 0.</summary>
        public virtual bool UsesActivationBounds
        {
            get { return false; }
        }

        /// <summary>Multiply-accumulates per inference (set by <see cref="Prepare"/>).</summary>
        public long Macs;

        /// <summary>Bytes of tables decoded from the blob at prepare (set by <see cref="Prepare"/>).</summary>
        public int TableBytes;

        /// <summary>Checks the operands in <paramref name="c"/> and binds them; throws <see cref="ModelFormatException"/>.</summary>
        public abstract void Prepare(KernelContext c);

        /// <summary>Runs the op; <paramref name="blob"/> holds the constants the kernel reads in place (int8 weights).</summary>
        public abstract void Eval(byte[] blob);
    }
}
