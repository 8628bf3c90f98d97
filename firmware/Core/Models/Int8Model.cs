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
        private readonly Int8Op[] _ops;
        private readonly float[] _input;
        private readonly sbyte[]? _output8;
        private readonly int[]? _output32;
        private readonly int _outputZeroPoint;
        private readonly float _outputScale;

        private Int8Model(byte[] blob, ModelHeader header, Int8Op[] ops, float[] input, sbyte[]? out8, int[]? out32, float outScale, int outZp, long macs, int workingBytes, int parameterBytes, int tableBytes)
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

            // Allocate every activation buffer now; Invoke allocates nothing.
            object?[] buffers = new object?[n];
            int workingBytes = 0;
            for (int t = 0; t < n; t++)
            {
                if (kinds[t] != ModelFormat.KindActivation)
                {
                    continue;
                }

                if (types[t] == ModelFormat.TypeInt8)
                {
                    buffers[t] = new sbyte[lengths[t]];
                    workingBytes += lengths[t];
                }
                else if (types[t] == ModelFormat.TypeInt32)
                {
                    buffers[t] = new int[lengths[t]];
                    workingBytes += 4 * lengths[t];
                }
                else
                {
                    buffers[t] = new float[lengths[t]];
                    workingBytes += 4 * lengths[t];
                }
            }

            if (workingBytes != h.WorkingBytes)
            {
                throw new ModelFormatException(ModelError.BadHeader, "header declares " + h.WorkingBytes + " working bytes, the tensors need " + workingBytes);
            }

            if (maxRamBytes > 0 && blob.Length + workingBytes > maxRamBytes)
            {
                throw new ModelFormatException(ModelError.TooLarge, "model needs at least " + (blob.Length + workingBytes) + " B of RAM (blob and activations), the board allows " + maxRamBytes);
            }

            // Op table, checked in order: every operand must already hold a value (SSA: each activation written once).
            bool[] defined = new bool[n];
            defined[h.InputTensor] = true;
            Int8Op[] ops = new Int8Op[h.OpCount];
            long macs = 0;
            int[] operands = new int[ModelFormat.MaxOperands];
            for (int i = 0; i < h.OpCount; i++)
            {
                int at = opAt[i];
                int code = blob[at];
                int count = blob[at + 1];
                int actMin = (sbyte)blob[at + 2];
                int actMax = (sbyte)blob[at + 3];
                int used = OperandCount(code);
                if (used == 0)
                {
                    throw Bad(ModelError.BadOp, i, "unknown opcode " + code);
                }

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

                if (code != ModelFormat.OpFullyConnected && (actMin != 0 || actMax != 0))
                {
                    throw Bad(ModelError.BadOp, i, "activation bounds are only used by fully connected ops and must be 0");
                }

                int outT = operands[used - 1];
                if (kinds[outT] != ModelFormat.KindActivation || defined[outT])
                {
                    throw Bad(ModelError.BadOp, i, "output tensor " + outT + " must be an activation not written before");
                }

                Int8Op op = new Int8Op();
                op.Code = code;
                if (code == ModelFormat.OpQuantize)
                {
                    int inT = operands[0], mulT = operands[1], addT = operands[2];
                    op.N = lengths[inT];
                    Expect(i, inT, types, kinds, ModelFormat.TypeFloat32, ModelFormat.KindActivation, op.N, lengths, "input");
                    Expect(i, mulT, types, kinds, ModelFormat.TypeFloat32, ModelFormat.KindConstant, op.N, lengths, "multiplier");
                    Expect(i, addT, types, kinds, ModelFormat.TypeFloat32, ModelFormat.KindConstant, op.N, lengths, "offset");
                    Expect(i, outT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "output");
                    op.FloatIn = (float[])buffers[inT]!;
                    op.Mul = ReadFloats(blob, offsets[mulT], op.N, i);
                    op.Add = ReadFloats(blob, offsets[addT], op.N, i);
                    op.Out8 = (sbyte[])buffers[outT]!;
                }
                else if (code == ModelFormat.OpFullyConnected)
                {
                    int inT = operands[0], wT = operands[1], bT = operands[2], mT = operands[3], sT = operands[4];
                    op.N = lengths[inT];
                    op.M = lengths[outT];
                    Expect(i, inT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "input");
                    Expect(i, wT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindConstant, op.N * op.M, lengths, "weights");
                    Expect(i, bT, types, kinds, ModelFormat.TypeInt32, ModelFormat.KindConstant, op.M, lengths, "bias");
                    Expect(i, mT, types, kinds, ModelFormat.TypeInt32, ModelFormat.KindConstant, op.M, lengths, "multiplier");
                    Expect(i, sT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindConstant, op.M, lengths, "shift");
                    Expect(i, outT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.M, lengths, "output");
                    if (actMin > actMax)
                    {
                        throw Bad(ModelError.BadOp, i, "activation min " + actMin + " exceeds max " + actMax);
                    }

                    op.In = (sbyte[])buffers[inT]!;
                    op.Out8 = (sbyte[])buffers[outT]!;
                    op.WeightOffset = offsets[wT];
                    op.Bias = ReadInts(blob, offsets[bT], op.M);
                    op.Multiplier = ReadInts(blob, offsets[mT], op.M);
                    op.Shift = new int[op.M];
                    for (int c = 0; c < op.M; c++)
                    {
                        int shift = (sbyte)blob[offsets[sT] + c];
                        if (op.Multiplier[c] < 0)
                        {
                            throw Bad(ModelError.BadOp, i, "channel " + c + " has a negative multiplier");
                        }

                        if (shift < -31 || shift > 30)
                        {
                            throw Bad(ModelError.BadOp, i, "channel " + c + " shift " + shift + " is outside -31..30");
                        }

                        op.Shift[c] = shift;
                    }

                    op.InputOffset = -zeroPoints[inT];
                    op.OutputZeroPoint = zeroPoints[outT];
                    op.ActMin = actMin;
                    op.ActMax = actMax;
                    op.Macs = (long)op.N * op.M;
                }
                else if (code == ModelFormat.OpRelu)
                {
                    int inT = operands[0];
                    op.N = lengths[inT];
                    Expect(i, inT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "input");
                    Expect(i, outT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "output");
                    SameQuantisation(i, inT, outT, scales, zeroPoints);
                    op.In = (sbyte[])buffers[inT]!;
                    op.Out8 = (sbyte[])buffers[outT]!;
                    op.OutputZeroPoint = zeroPoints[outT];
                }
                else if (code == ModelFormat.OpSquaredError)
                {
                    int aT = operands[0], bT = operands[1];
                    op.N = lengths[aT];
                    Expect(i, aT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "first input");
                    Expect(i, bT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "second input");
                    Expect(i, outT, types, kinds, ModelFormat.TypeInt32, ModelFormat.KindActivation, 1, lengths, "output");
                    SameQuantisation(i, aT, bT, scales, zeroPoints);
                    op.In = (sbyte[])buffers[aT]!;
                    op.In2 = (sbyte[])buffers[bT]!;
                    op.Out32 = (int[])buffers[outT]!;
                    op.Macs = op.N;
                }
                else
                {
                    int inT = operands[0], cT = operands[1];
                    op.N = lengths[inT];
                    Expect(i, inT, types, kinds, ModelFormat.TypeInt8, ModelFormat.KindActivation, op.N, lengths, "input");
                    if (types[cT] != ModelFormat.TypeInt8 || kinds[cT] != ModelFormat.KindConstant || lengths[cT] % op.N != 0)
                    {
                        throw Bad(ModelError.BadOp, i, "centroids must be an int8 constant whose length is a multiple of " + op.N);
                    }

                    op.M = lengths[cT] / op.N;
                    if (types[outT] != ModelFormat.TypeInt32 || (lengths[outT] != 1 && lengths[outT] != 2))
                    {
                        throw Bad(ModelError.BadOp, i, "output must be an int32 activation of length 1 (distance) or 2 (distance, index)");
                    }

                    op.In = (sbyte[])buffers[inT]!;
                    op.WeightOffset = offsets[cT];
                    op.Out32 = (int[])buffers[outT]!;
                    op.Macs = (long)op.N * op.M;
                }

                defined[outT] = true;
                ops[i] = op;
                macs += op.Macs;
            }

            if (!defined[h.OutputTensor] || h.OpCount == 0)
            {
                throw new ModelFormatException(ModelError.BadOp, "no op writes the output tensor " + h.OutputTensor);
            }

            int tableBytes = 0;
            for (int i = 0; i < ops.Length; i++)
            {
                Int8Op op = ops[i];
                tableBytes += 4 * ((op.Mul != null ? op.Mul.Length : 0) + (op.Add != null ? op.Add.Length : 0) + (op.Bias != null ? op.Bias.Length : 0)
                    + (op.Multiplier != null ? op.Multiplier.Length : 0) + (op.Shift != null ? op.Shift.Length : 0));
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
            uint crc = Crc32.Update(Crc32.Start(), blob, 0, ModelFormat.CrcOffset);
            crc = Crc32.Finish(Crc32.Update(crc, blob, ModelFormat.HeaderSize, blob.Length - ModelFormat.HeaderSize));
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

            Int8Op[] ops = _ops;
            for (int k = 0; k < ops.Length; k++)
            {
                Int8Op op = ops[k];
                int code = op.Code;
                if (code == ModelFormat.OpFullyConnected)
                {
                    RunFullyConnected(op, _blob);
                }
                else if (code == ModelFormat.OpQuantize)
                {
                    RunQuantize(op);
                }
                else if (code == ModelFormat.OpRelu)
                {
                    sbyte[] src = op.In!;
                    sbyte[] dst = op.Out8!;
                    int zp = op.OutputZeroPoint;
                    int n = op.N;
                    for (int i = 0; i < n; i++)
                    {
                        int v = src[i];
                        dst[i] = (sbyte)(v < zp ? zp : v);
                    }
                }
                else if (code == ModelFormat.OpSquaredError)
                {
                    sbyte[] a = op.In!;
                    sbyte[] b = op.In2!;
                    int n = op.N;
                    int sum = 0;
                    for (int i = 0; i < n; i++)
                    {
                        int d = a[i] - b[i];
                        sum += d * d;
                    }

                    op.Out32![0] = sum;
                }
                else
                {
                    RunMinSquaredDistance(op, _blob);
                }
            }

            return StatusOk;
        }

        private static void RunQuantize(Int8Op op)
        {
            float[] x = op.FloatIn!;
            float[] mul = op.Mul!;
            float[] add = op.Add!;
            sbyte[] dst = op.Out8!;
            int n = op.N;
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

        private static void RunFullyConnected(Int8Op op, byte[] blob)
        {
            sbyte[] x = op.In!;
            sbyte[] y = op.Out8!;
            int[] bias = op.Bias!;
            int[] mult = op.Multiplier!;
            int[] shift = op.Shift!;
            int n = op.N;
            int m = op.M;
            int inOffset = op.InputOffset;
            int outZp = op.OutputZeroPoint;
            int lo = op.ActMin;
            int hi = op.ActMax;
            int w = op.WeightOffset;
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

        private static void RunMinSquaredDistance(Int8Op op, byte[] blob)
        {
            sbyte[] x = op.In!;
            int[] output = op.Out32!;
            int n = op.N;
            int k = op.M;
            int c = op.WeightOffset;
            int best = int.MaxValue;
            int bestIndex = 0;
            for (int j = 0; j < k; j++)
            {
                int sum = 0;
                for (int i = 0; i < n; i++)
                {
                    int d = x[i] - (sbyte)blob[c + i];
                    sum += d * d;
                }

                c += n;
                if (sum < best)
                {
                    best = sum;
                    bestIndex = j;
                }
            }

            output[0] = best;
            if (output.Length > 1)
            {
                output[1] = bestIndex;
            }
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

        private static int OperandCount(int code)
        {
            if (code == ModelFormat.OpQuantize)
            {
                return 4;
            }

            if (code == ModelFormat.OpFullyConnected)
            {
                return 6;
            }

            if (code == ModelFormat.OpRelu)
            {
                return 2;
            }

            if (code == ModelFormat.OpSquaredError)
            {
                return 3;
            }

            if (code == ModelFormat.OpMinSquaredDistance)
            {
                return 3;
            }

            return 0;
        }

        private static void Expect(int op, int t, int[] types, int[] kinds, int type, int kind, int length, int[] lengths, string role)
        {
            if (types[t] != type || kinds[t] != kind || lengths[t] != length)
            {
                throw Bad(ModelError.BadOp, op, role + " tensor " + t + " must be " + TypeName(type) + (kind == ModelFormat.KindConstant ? " constant" : " activation") + " of length " + length + ", is " + TypeName(types[t]) + (kinds[t] == ModelFormat.KindConstant ? " constant" : " activation") + " of length " + lengths[t]);
            }
        }

        private static void SameQuantisation(int op, int a, int b, float[] scales, int[] zeroPoints)
        {
            if (scales[a] != scales[b] || zeroPoints[a] != zeroPoints[b])
            {
                throw Bad(ModelError.BadOp, op, "tensors " + a + " and " + b + " must share scale and zero point");
            }
        }

        private static float[] ReadFloats(byte[] blob, int offset, int count, int op)
        {
            float[] r = new float[count];
            for (int i = 0; i < count; i++)
            {
                float f = LittleEndian.ReadSingle(blob, offset + (4 * i));
                if (float.IsNaN(f) || float.IsInfinity(f))
                {
                    throw Bad(ModelError.BadOp, op, "constant element " + i + " is not finite");
                }

                r[i] = f;
            }

            return r;
        }

        private static int[] ReadInts(byte[] blob, int offset, int count)
        {
            int[] r = new int[count];
            for (int i = 0; i < count; i++)
            {
                r[i] = LittleEndian.ReadInt32(blob, offset + (4 * i));
            }

            return r;
        }

        private static string TypeName(int type)
        {
            return type == ModelFormat.TypeInt8 ? "int8" : (type == ModelFormat.TypeInt32 ? "int32" : "float32");
        }

        private static ModelFormatException Bad(ModelError code, int index, string message)
        {
            string what = code == ModelError.BadTensor ? "tensor " : "op ";
            return new ModelFormatException(code, what + index + ": " + message);
        }
    }
}
