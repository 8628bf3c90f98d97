using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// What a kernel's <see cref="Int8Kernel.Prepare"/> sees of the model being loaded: the tensor table, the
    /// activation buffers, the blob, and this op's operands and activation bounds; plus the checks every kernel
    /// shares, which throw <see cref="ModelFormatException"/> naming the op.
    /// </summary>
    public sealed class KernelContext
    {
        internal byte[] Blob = new byte[0];
        internal int[] Types = new int[0];
        internal int[] Kinds = new int[0];
        internal int[] Lengths = new int[0];
        internal int[] Offsets = new int[0];
        internal float[] Scales = new float[0];
        internal int[] ZeroPoints = new int[0];
        internal object?[] Buffers = new object?[0];
        internal int[] Operands = new int[ModelFormat.MaxOperands];

        /// <summary>Index of the op being prepared.</summary>
        public int OpIndex;

        /// <summary>The entry's activation lower bound.</summary>
        public int ActMin;

        /// <summary>The entry's activation upper bound.</summary>
        public int ActMax;

        /// <summary>Tensor index of operand <paramref name="i"/>.</summary>
        public int Operand(int i)
        {
            return Operands[i];
        }

        /// <summary>Element count of tensor <paramref name="t"/>.</summary>
        public int Length(int t)
        {
            return Lengths[t];
        }

        /// <summary>Element type of tensor <paramref name="t"/>.</summary>
        public int TypeOf(int t)
        {
            return Types[t];
        }

        /// <summary>Kind of tensor <paramref name="t"/>.</summary>
        public int KindOf(int t)
        {
            return Kinds[t];
        }

        /// <summary>Blob offset of constant tensor <paramref name="t"/>.</summary>
        public int Offset(int t)
        {
            return Offsets[t];
        }

        /// <summary>Zero point of activation <paramref name="t"/>.</summary>
        public int ZeroPoint(int t)
        {
            return ZeroPoints[t];
        }

        /// <summary>The int8 buffer of activation <paramref name="t"/>.</summary>
        public sbyte[] Int8(int t)
        {
            return (sbyte[])Buffers[t]!;
        }

        /// <summary>The int32 buffer of activation <paramref name="t"/>.</summary>
        public int[] Int32(int t)
        {
            return (int[])Buffers[t]!;
        }

        /// <summary>The float buffer of activation <paramref name="t"/>.</summary>
        public float[] Float(int t)
        {
            return (float[])Buffers[t]!;
        }

        /// <summary>The model blob.</summary>
        public byte[] ModelBlob
        {
            get { return Blob; }
        }

        /// <summary>Refuses unless tensor <paramref name="t"/> has this type, kind and length.</summary>
        public void Expect(int t, int type, int kind, int length, string role)
        {
            if (Types[t] != type || Kinds[t] != kind || Lengths[t] != length)
            {
                throw Fail(role + " tensor " + t + " must be " + TypeName(type) + (kind == ModelFormat.KindConstant ? " constant" : " activation") + " of length " + length + ", is " + TypeName(Types[t]) + (Kinds[t] == ModelFormat.KindConstant ? " constant" : " activation") + " of length " + Lengths[t]);
            }
        }

        /// <summary>Refuses unless activations <paramref name="a"/> and <paramref name="b"/> share scale and zero point.</summary>
        public void SameQuantisation(int a, int b)
        {
            if (Scales[a] != Scales[b] || ZeroPoints[a] != ZeroPoints[b])
            {
                throw Fail("tensors " + a + " and " + b + " must share scale and zero point");
            }
        }

        /// <summary>Constant float tensor <paramref name="t"/> decoded, every element finite.</summary>
        public float[] ReadFloats(int t, int count)
        {
            float[] r = new float[count];
            int offset = Offsets[t];
            for (int i = 0; i < count; i++)
            {
                float f = LittleEndian.ReadSingle(Blob, offset + (4 * i));
                if (float.IsNaN(f) || float.IsInfinity(f))
                {
                    throw Fail("constant element " + i + " is not finite");
                }

                r[i] = f;
            }

            return r;
        }

        /// <summary>Constant int32 tensor <paramref name="t"/> decoded.</summary>
        public int[] ReadInts(int t, int count)
        {
            int[] r = new int[count];
            int offset = Offsets[t];
            for (int i = 0; i < count; i++)
            {
                r[i] = LittleEndian.ReadInt32(Blob, offset + (4 * i));
            }

            return r;
        }

        /// <summary>The error for this op.</summary>
        public ModelFormatException Fail(string message)
        {
            return new ModelFormatException(ModelError.BadOp, "op " + OpIndex + ": " + message);
        }

        internal static string TypeName(int type)
        {
            return type == ModelFormat.TypeInt8 ? "int8" : (type == ModelFormat.TypeInt32 ? "int32" : "float32");
        }
    }
}
