using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// A validated int8 model and its interpreter. <see cref="Load"/> checks every field of the blob before
    /// anything runs and sizes every buffer; <see cref="Invoke"/> then allocates nothing.
    /// The arithmetic is specified in docs/quantized-arithmetic.md. Not thread-safe: one caller at a time.
    /// </summary>
    public sealed class Int8Model
    {
        private readonly byte[] _blob;
        private readonly Int8Kernel[] _ops;
        private readonly float[] _input;
        private readonly sbyte[]? _output8;
        private readonly int[]? _output32;
        private readonly int _outputZeroPoint;
        private readonly float _outputScale;

        private Int8Model(byte[] blob, ModelHeader header, Int8Kernel[] ops, float[] input, sbyte[]? out8, int[]? out32, float outScale, int outZp, long macs, int workingBytes, int parameterBytes, int tableBytes)
        {
            _blob = blob;
            Header = header;
            _ops = ops;
            _input = input;
            _output8 = out8;
            _output32 = out32;
            _outputScale = outScale;
            _outputZeroPoint = outZp;
            Macs = macs;
            WorkingBytes = workingBytes;
            ParameterBytes = parameterBytes;
            TableBytes = tableBytes;
        }

        /// <summary>The validated header.</summary>
        public ModelHeader Header { get; private set; }

        /// <summary>Multiply-accumulates per inference (FC weights plus distance terms).</summary>
        public long Macs { get; private set; }

        /// <summary>Bytes of activation buffers allocated at load (the model's working memory).</summary>
        public int WorkingBytes { get; private set; }

        /// <summary>Bytes of the tables decoded from the blob at load (biases, multipliers, shifts, standardisation).</summary>
        public int TableBytes { get; private set; }

        /// <summary>
        /// RAM the loaded model holds on a node: the blob (int8 weights are read from it in place), activation
        /// buffers and decoded tables. The one meaning of "model RAM" that boards, budgets and cards use.
        /// </summary>
        public int RamBytes
        {
            get { return _blob.Length + WorkingBytes + TableBytes; }
        }

        /// <summary>Bytes of constant parameters (weights, biases, requantisation tables, centroids).</summary>
        public int ParameterBytes { get; private set; }

        /// <summary>The blob this model reads its int8 weights from (not copied).</summary>
        public byte[] Blob
        {
            get { return _blob; }
        }

        /// <summary>True when the output tensor is int8 (logits, reconstructions); false for int32 scores.</summary>
        public bool OutputIsInt8
        {
            get { return _output8 != null; }
        }

        /// <summary>Int8 output buffer (valid after <see cref="Invoke"/>), or null for an int32 output.</summary>
        public sbyte[]? OutputInt8
        {
            get { return _output8; }
        }

        /// <summary>Int32 output buffer (valid after <see cref="Invoke"/>), or null for an int8 output.</summary>
        public int[]? OutputInt32
        {
            get { return _output32; }
        }

        /// <summary>Output element 0 as an integer: the score or logit the threshold applies to.</summary>
        public int Score
        {
            get { return _output8 != null ? _output8[0] : _output32![0]; }
        }

        /// <summary>Output element 0 in real units: scale * (q - zero point).</summary>
        public float RealScore
        {
            get { return _outputScale * (Score - _outputZeroPoint); }
        }

        /// <summary>True when the last output is above the model's threshold.</summary>
        public bool IsAboveThreshold
        {
            get { return Score > Header.Threshold; }
        }

        /// <summary>Writes the output tensor's raw little-endian bytes (int8: 1 byte, int32: 4 bytes per element).</summary>
        public int CopyOutputBytes(byte[] destination, int offset)
        {
            if (_output8 != null)
            {
                for (int i = 0; i < _output8.Length; i++)
                {
                    destination[offset + i] = (byte)_output8[i];
                }

                return _output8.Length;
            }

            int[] o = _output32!;
            for (int i = 0; i < o.Length; i++)
            {
                LittleEndian.WriteInt32(destination, offset + (4 * i), o[i]);
            }

            return 4 * o.Length;
        }

        /// <summary>Number of raw output bytes <see cref="CopyOutputBytes"/> writes.</summary>
        public int OutputByteCount
        {
            get { return _output8 != null ? _output8.Length : 4 * _output32!.Length; }
        }

        /// <summary>
        /// Validates <paramref name="blob"/> completely and prepares it to run.
        /// <paramref name="boardClass"/>: this board's class; a model for another class (other than "any") is refused.
        /// <paramref name="maxRamBytes"/>: the most RAM this board grants a model (0 = no limit), counted as
        /// <see cref="RamBytes"/> counts it: the blob (weights are read from it), activations and decoded tables.
        /// </summary>
        /// <exception cref="ModelFormatException">The blob breaks a rule; <see cref="ModelFormatException.Code"/> says which.</exception>
        public static Int8Model Load(byte[] blob, int boardClass, int maxRamBytes)
        {
            if (blob == null)
            {
                throw new ModelFormatException(ModelError.Truncated, "model blob is null");
            }

            ModelHeader h = ReadHeader(blob);
            if (h.BoardClass != ModelFormat.BoardClassAny && boardClass != ModelFormat.BoardClassAny && h.BoardClass != boardClass)
            {
                throw new ModelFormatException(ModelError.WrongBoard, "model is for board class " + h.BoardClass + ", this board is class " + boardClass);
            }

            // Tensor table: variable-size entries (docs/model-format.md, "Tensor table").
            int n = h.TensorCount;
            int[] types = new int[n];
            int[] kinds = new int[n];
            int[] lengths = new int[n];
            int[] offsets = new int[n];
            float[] scales = new float[n];
            int[] zeroPoints = new int[n];
            int e = ModelFormat.HeaderSize;
            for (int t = 0; t < n; t++)
            {
                if (e + ModelFormat.ConstantEntrySize > h.TotalSize)
                {
                    throw new ModelFormatException(ModelError.Truncated, "tensor table runs past the blob end at tensor " + t);
                }

                int type = blob[e] & 0x0F;
                int kind = blob[e] >> 4;
                int length = blob[e + 1] | (blob[e + 2] << 8) | (blob[e + 3] << 16);
                if (ModelFormat.ElementSize(type) == 0)
                {
                    throw Bad(ModelError.BadTensor, t, "unknown element type " + type);
                }

                if (length <= 0)
                {
                    throw Bad(ModelError.BadTensor, t, "length must be positive");
                }

                types[t] = type;
                kinds[t] = kind;
                lengths[t] = length;
                offsets[t] = -1;
                if (kind == ModelFormat.KindConstant)
                {
                    e += ModelFormat.ConstantEntrySize;
                }
                else if (kind == ModelFormat.KindActivation)
                {
                    if (e + ModelFormat.ActivationEntrySize > h.TotalSize)
                    {
                        throw new ModelFormatException(ModelError.Truncated, "tensor table runs past the blob end at tensor " + t);
                    }

                    if (length > ModelFormat.MaxActivationLength)
                    {
                        throw Bad(ModelError.BadTensor, t, "activation length " + length + " is outside 1.." + ModelFormat.MaxActivationLength);
                    }

                    float scale = LittleEndian.ReadSingle(blob, e + 4);
                    int zp = LittleEndian.ReadInt16(blob, e + 8);
                    if (LittleEndian.ReadUInt16(blob, e + 10) != 0)
                    {
                        throw Bad(ModelError.BadTensor, t, "reserved bytes are not zero");
                    }

                    if (type == ModelFormat.TypeFloat32)
                    {
                        if (scale != 0 || zp != 0)
                        {
                            throw Bad(ModelError.BadTensor, t, "a float activation has no quantisation: scale and zero point must be 0");
                        }
                    }
                    else
                    {
                        if (!(scale > 0) || float.IsInfinity(scale))
                        {
                            throw Bad(ModelError.BadTensor, t, "scale must be finite and positive");
                        }

                        if (type == ModelFormat.TypeInt8 ? (zp < -128 || zp > 127) : zp != 0)
                        {
                            throw Bad(ModelError.BadTensor, t, "zero point " + zp + " is out of range for its type");
                        }
                    }

                    scales[t] = scale;
                    zeroPoints[t] = zp;
                    e += ModelFormat.ActivationEntrySize;
                }
                else
                {
                    throw Bad(ModelError.BadTensor, t, "unknown kind " + kind);
                }
            }

            // Op table: opcode, operand count, activation bounds, then one byte per operand.
            int opTable = e;
            int[] opAt = new int[h.OpCount];
            for (int i = 0; i < h.OpCount; i++)
            {
                if (e + ModelFormat.OpHeaderSize > h.TotalSize)
                {
                    throw new ModelFormatException(ModelError.Truncated, "op table runs past the blob end at op " + i);
                }

                opAt[i] = e;
                e += ModelFormat.OpHeaderSize + blob[e + 1];
            }

            // Data section: constants in tensor order, each aligned to its element size, zero padding, and the blob
            // ending on the next 4-byte boundary after the last constant. Offsets are implied, never stored.
            int cursor = (e + 3) & ~3;
            int parameterBytes = 0;
            for (int t = 0; t < n; t++)
            {
                if (kinds[t] != ModelFormat.KindConstant)
                {
                    continue;
                }

                int size = ModelFormat.ElementSize(types[t]);
                int aligned = (cursor + size - 1) & ~(size - 1);
                long end = (long)aligned + ((long)lengths[t] * size);
                if (end > h.TotalSize)
                {
                    throw Bad(ModelError.BadTensor, t, "data [" + aligned + ", " + end + ") runs past the blob end " + h.TotalSize);
                }

                offsets[t] = aligned;
                cursor = (int)end;
                parameterBytes += lengths[t] * size;
            }

            if (e > h.TotalSize || ((cursor + 3) & ~3) != h.TotalSize)
            {
                throw new ModelFormatException(ModelError.BadHeader, "tables and constants end at " + cursor + ", the blob declares " + h.TotalSize + " bytes");
            }

            if (!PaddingIsZero(blob, e, offsets, types, lengths, kinds, h.TotalSize))
            {
                throw new ModelFormatException(ModelError.BadHeader, "padding bytes are not zero");
            }

            if (h.InputTensor >= n || kinds[h.InputTensor] != ModelFormat.KindActivation || types[h.InputTensor] != ModelFormat.TypeFloat32 || lengths[h.InputTensor] != h.InputLength)
            {
                throw new ModelFormatException(ModelError.BadHeader, "input tensor " + h.InputTensor + " must be a float32 activation of length " + h.InputLength);
            }

            if (h.OutputTensor >= n || kinds[h.OutputTensor] != ModelFormat.KindActivation || types[h.OutputTensor] == ModelFormat.TypeFloat32 || lengths[h.OutputTensor] != h.OutputLength)
            {
                throw new ModelFormatException(ModelError.BadHeader, "output tensor " + h.OutputTensor + " must be an int8 or int32 activation of length " + h.OutputLength);
            }

            // The file declares the activations' plain sum; the loader then shares buffers between activations whose
            // lifetimes do not overlap (MemoryPlanner), so a deep model holds far less than that sum.
            int declaredBytes = 0;
            for (int t = 0; t < n; t++)
            {
                if (kinds[t] == ModelFormat.KindActivation)
                {
                    declaredBytes += lengths[t] * ModelFormat.ElementSize(types[t]);
                }
            }

            if (declaredBytes != h.WorkingBytes)
            {
                throw new ModelFormatException(ModelError.BadHeader, "header declares " + h.WorkingBytes + " working bytes, the tensors need " + declaredBytes);
            }

            object?[] buffers = new object?[n];
            int workingBytes = MemoryPlanner.Allocate(blob, opAt, types, kinds, lengths, h.InputTensor, h.OutputTensor, buffers);
            if (maxRamBytes > 0 && blob.Length + workingBytes > maxRamBytes)
            {
                throw new ModelFormatException(ModelError.TooLarge, "model needs at least " + (blob.Length + workingBytes) + " B of RAM (blob and activations), the board allows " + maxRamBytes);
            }

            // Op table, checked in order: every operand must already hold a value (SSA: each activation written once);
            // then the op's own kernel checks and binds its operands.
            bool[] defined = new bool[n];
            defined[h.InputTensor] = true;
            Int8Kernel[] ops = new Int8Kernel[h.OpCount];
            long macs = 0;
            int tableBytes = 0;
            KernelContext context = new KernelContext();
            context.Blob = blob;
            context.Types = types;
            context.Kinds = kinds;
            context.Lengths = lengths;
            context.Offsets = offsets;
            context.Scales = scales;
            context.ZeroPoints = zeroPoints;
            context.Buffers = buffers;
            int[] operands = context.Operands;
            for (int i = 0; i < h.OpCount; i++)
            {
                int at = opAt[i];
                int code = blob[at];
                int count = blob[at + 1];
                int actMin = (sbyte)blob[at + 2];
                int actMax = (sbyte)blob[at + 3];
                Int8Kernel? kernel = OpResolver.Create(code);
                if (kernel == null)
                {
                    throw Bad(ModelError.BadOp, i, "unknown opcode " + code);
                }

                int used = kernel.OperandCount;
                if (count != used)
                {
                    throw Bad(ModelError.BadOp, i, "opcode " + code + " takes " + used + " operands, the entry has " + count);
                }

                for (int s = 0; s < used; s++)
                {
                    int ti = blob[at + ModelFormat.OpHeaderSize + s];
                    operands[s] = ti;
                    if (ti >= n)
                    {
                        throw Bad(ModelError.BadOp, i, "operand " + s + " names tensor " + ti + " of " + n);
                    }

                    if (s < used - 1 && kinds[ti] == ModelFormat.KindActivation && !defined[ti])
                    {
                        throw Bad(ModelError.BadOp, i, "operand " + s + " reads tensor " + ti + " before any op writes it");
                    }
                }

                if (!kernel.UsesActivationBounds && (actMin != 0 || actMax != 0))
                {
                    throw Bad(ModelError.BadOp, i, "activation bounds are only used by fully connected ops and must be 0");
                }

                int outT = operands[used - 1];
                if (kinds[outT] != ModelFormat.KindActivation || defined[outT])
                {
                    throw Bad(ModelError.BadOp, i, "output tensor " + outT + " must be an activation not written before");
                }

                context.OpIndex = i;
                context.ActMin = actMin;
                context.ActMax = actMax;
                kernel.Prepare(context);
                defined[outT] = true;
                ops[i] = kernel;
                macs += kernel.Macs;
                tableBytes += kernel.TableBytes;
            }

            if (!defined[h.OutputTensor] || h.OpCount == 0)
            {
                throw new ModelFormatException(ModelError.BadOp, "no op writes the output tensor " + h.OutputTensor);
            }

            if (maxRamBytes > 0 && blob.Length + workingBytes + tableBytes > maxRamBytes)
            {
                throw new ModelFormatException(ModelError.TooLarge, "model needs " + (blob.Length + workingBytes + tableBytes) + " B of RAM (blob, activations and tables), the board allows " + maxRamBytes + " (" + (blob.Length + workingBytes + tableBytes - maxRamBytes) + " B over)");
            }

            float outScale = scales[h.OutputTensor];
            int outZp = zeroPoints[h.OutputTensor];
            object? outBuffer = buffers[h.OutputTensor];
            return new Int8Model(
                blob,
                h,
                ops,
                (float[])buffers[h.InputTensor]!,
                types[h.OutputTensor] == ModelFormat.TypeInt8 ? (sbyte[])outBuffer! : null,
                types[h.OutputTensor] == ModelFormat.TypeInt32 ? (int[])outBuffer! : null,
                outScale,
                outZp,
                macs,
                workingBytes,
                parameterBytes,
                tableBytes);
        }

        /// <summary>Reads and checks the header alone (magic, version, sizes, counts, CRC).</summary>
        /// <exception cref="ModelFormatException">The header breaks a rule.</exception>
        public static ModelHeader ReadHeader(byte[] blob)
        {
            if (blob.Length < ModelFormat.HeaderSize)
            {
                throw new ModelFormatException(ModelError.Truncated, "blob has " + blob.Length + " bytes, the header alone needs " + ModelFormat.HeaderSize);
            }

            if (LittleEndian.ReadUInt32(blob, 0) != ModelFormat.Magic)
            {
                throw new ModelFormatException(ModelError.BadMagic, "not a TinyMlops model (magic is not \"TMLM\")");
            }

            ModelHeader h = new ModelHeader();
            h.FormatVersion = LittleEndian.ReadUInt16(blob, 4);
            if (h.FormatVersion != ModelFormat.Version)
            {
                throw new ModelFormatException(ModelError.UnsupportedVersion, "format version " + h.FormatVersion + " is not supported (this loader reads " + ModelFormat.Version + ")");
            }

            if (LittleEndian.ReadUInt16(blob, 6) != ModelFormat.HeaderSize)
            {
                throw new ModelFormatException(ModelError.BadHeader, "header size must be " + ModelFormat.HeaderSize);
            }

            h.TotalSize = LittleEndian.ReadInt32(blob, 8);
            if (h.TotalSize < ModelFormat.HeaderSize || h.TotalSize > ModelFormat.MaxBlobSize)
            {
                throw new ModelFormatException(ModelError.BadHeader, "declared size " + h.TotalSize + " is out of range");
            }

            if (h.TotalSize != blob.Length)
            {
                throw new ModelFormatException(ModelError.Truncated, "declared size " + h.TotalSize + " but the blob has " + blob.Length + " bytes");
            }

            h.Crc = LittleEndian.ReadUInt32(blob, ModelFormat.CrcOffset);
            uint crc = ModelFormat.Checksum(blob);
            if (crc != h.Crc)
            {
                throw new ModelFormatException(ModelError.BadChecksum, "CRC32 mismatch: header says 0x" + h.Crc.ToString("X8") + ", content is 0x" + crc.ToString("X8"));
            }

            h.ModelId = LittleEndian.ReadUInt32(blob, 12);
            h.ModelVersion = LittleEndian.ReadUInt32(blob, 16);
            h.BoardClass = LittleEndian.ReadUInt16(blob, 20);
            h.Flags = LittleEndian.ReadUInt16(blob, 22);
            h.InputLength = LittleEndian.ReadUInt16(blob, 24);
            h.OutputLength = LittleEndian.ReadUInt16(blob, 26);
            h.TensorCount = LittleEndian.ReadUInt16(blob, 28);
            h.OpCount = LittleEndian.ReadUInt16(blob, 30);
            h.InputTensor = LittleEndian.ReadUInt16(blob, 32);
            h.OutputTensor = LittleEndian.ReadUInt16(blob, 34);
            h.Threshold = LittleEndian.ReadInt32(blob, 36);
            h.WorkingBytes = LittleEndian.ReadInt32(blob, 40);
            if ((h.Flags & ~ModelFormat.FlagAnomalyScore) != 0)
            {
                throw new ModelFormatException(ModelError.BadHeader, "unknown flags 0x" + h.Flags.ToString("X4"));
            }

            if (LittleEndian.ReadInt32(blob, 44) != 0)
            {
                throw new ModelFormatException(ModelError.BadHeader, "reserved header bytes are not zero");
            }

            if (h.InputLength == 0 || h.OutputLength == 0)
            {
                throw new ModelFormatException(ModelError.BadHeader, "input and output lengths must be positive");
            }

            if (h.TensorCount < 2 || h.TensorCount > ModelFormat.MaxTensors || h.OpCount < 1 || h.OpCount > ModelFormat.MaxOps)
            {
                throw new ModelFormatException(ModelError.BadHeader, "tensor count " + h.TensorCount + " or op count " + h.OpCount + " is out of range");
            }

            return h;
        }

        /// <summary>Status codes of <see cref="Invoke"/>.</summary>
        public const int StatusOk = 0;

        /// <summary>The input array does not have <see cref="ModelHeader.InputLength"/> elements.</summary>
        public const int StatusWrongInputLength = 1;

        /// <summary>An input feature is NaN or infinite; nothing was computed.</summary>
        public const int StatusNonFiniteInput = 2;

        /// <summary>
        /// Runs the model on <paramref name="features"/> (float, length <see cref="ModelHeader.InputLength"/>).
        /// Returns <see cref="StatusOk"/> or a status code; never throws for bad input and never allocates.
        /// </summary>
        public int Invoke(float[] features)
        {
            float[] input = _input;
            if (features == null || features.Length != input.Length)
            {
                return StatusWrongInputLength;
            }

            for (int i = 0; i < features.Length; i++)
            {
                float f = features[i];
                // f - f is 0 for every finite f and NaN for NaN and the infinities; no call in the loop.
                if (f - f != 0f)
                {
                    return StatusNonFiniteInput;
                }

                input[i] = f;
            }

            Int8Kernel[] ops = _ops;
            byte[] blob = _blob;
            for (int k = 0; k < ops.Length; k++)
            {
                ops[k].Eval(blob);
            }

            return StatusOk;
        }

        private static bool PaddingIsZero(byte[] blob, int tablesEnd, int[] offsets, int[] types, int[] lengths, int[] kinds, int total)
        {
            int cursor = tablesEnd;
            for (int t = 0; t <= offsets.Length; t++)
            {
                int next = total;
                if (t < offsets.Length)
                {
                    if (kinds[t] != ModelFormat.KindConstant)
                    {
                        continue;
                    }

                    next = offsets[t];
                }

                for (int i = cursor; i < next; i++)
                {
                    if (blob[i] != 0)
                    {
                        return false;
                    }
                }

                if (t < offsets.Length)
                {
                    cursor = offsets[t] + (lengths[t] * ModelFormat.ElementSize(types[t]));
                }
            }

            return true;
        }

        private static ModelFormatException Bad(ModelError code, int index, string message)
        {
            string what = code == ModelError.BadTensor ? "tensor " : "op ";
            return new ModelFormatException(code, what + index + ": " + message);
        }
    }
}
