using System;
using System.Collections.Generic;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization;

/// <summary>Element type of a tensor in a <see cref="QuantizedModel"/>.</summary>
public enum TensorType
{
    /// <summary>Signed 8-bit.</summary>
    Int8 = ModelFormat.TypeInt8,

    /// <summary>Signed 32-bit.</summary>
    Int32 = ModelFormat.TypeInt32,

    /// <summary>IEEE single.</summary>
    Float32 = ModelFormat.TypeFloat32,
}

/// <summary>One tensor of a quantised model: an activation (with its quantisation) or constant data.</summary>
public sealed class TensorSpec
{
    /// <summary>Element type.</summary>
    public TensorType Type { get; init; }

    /// <summary>Element count.</summary>
    public int Length { get; init; }

    /// <summary>True for an activation buffer, false for constant data.</summary>
    public bool IsActivation { get; init; }

    /// <summary>Real value per integer step (activations; 0 for float).</summary>
    public float Scale { get; init; }

    /// <summary>Integer that represents real 0 (int8 activations).</summary>
    public int ZeroPoint { get; init; }

    /// <summary>Constant data (sbyte[], int[] or float[]).</summary>
    public Array? Data { get; init; }
}

/// <summary>One op of a quantised model, naming its operand tensors by index (output last).</summary>
public sealed record OpSpec(int Code, int[] Operands, int ActMin = 0, int ActMax = 0);

/// <summary>
/// An int8 model as data: tensors and ops, in the order and with the arithmetic of docs/model-format.md.
/// <see cref="ToBlob"/> writes the binary format; <see cref="ReferenceInterpreter"/> evaluates it independently of the
/// firmware interpreter.
/// </summary>
public sealed class QuantizedModel
{
    /// <summary>Model id.</summary>
    public uint ModelId { get; set; }

    /// <summary>Model version.</summary>
    public uint ModelVersion { get; set; }

    /// <summary>Board class (0 = any).</summary>
    public int BoardClass { get; set; }

    /// <summary>True when the output is an anomaly score.</summary>
    public bool IsAnomalyScore { get; set; }

    /// <summary>Decision threshold in output units.</summary>
    public int Threshold { get; set; }

    /// <summary>Tensors, by index.</summary>
    public List<TensorSpec> Tensors { get; } = new();

    /// <summary>Ops, in execution order.</summary>
    public List<OpSpec> Ops { get; } = new();

    /// <summary>Input tensor index.</summary>
    public int InputTensor { get; set; }

    /// <summary>Output tensor index.</summary>
    public int OutputTensor { get; set; }

    /// <summary>Adds a tensor; returns its index.</summary>
    public int Add(TensorSpec t)
    {
        Tensors.Add(t);
        return Tensors.Count - 1;
    }

    /// <summary>Adds a float32 input activation.</summary>
    public int AddInput(int length) => InputTensor = Add(new TensorSpec { Type = TensorType.Float32, Length = length, IsActivation = true });

    /// <summary>Adds an int8 activation.</summary>
    public int AddInt8(int length, float scale, int zeroPoint) => Add(new TensorSpec { Type = TensorType.Int8, Length = length, IsActivation = true, Scale = scale, ZeroPoint = zeroPoint });

    /// <summary>Adds an int32 activation.</summary>
    public int AddInt32(int length, float scale) => Add(new TensorSpec { Type = TensorType.Int32, Length = length, IsActivation = true, Scale = scale });

    /// <summary>Adds constant data.</summary>
    public int AddConst(sbyte[] data) => Add(new TensorSpec { Type = TensorType.Int8, Length = data.Length, Data = data });

    /// <inheritdoc cref="AddConst(sbyte[])"/>
    public int AddConst(int[] data) => Add(new TensorSpec { Type = TensorType.Int32, Length = data.Length, Data = data });

    /// <inheritdoc cref="AddConst(sbyte[])"/>
    public int AddConst(float[] data) => Add(new TensorSpec { Type = TensorType.Float32, Length = data.Length, Data = data });

    /// <summary>Bytes of all activation buffers (what the firmware allocates at load).</summary>
    public int WorkingBytes
    {
        get
        {
            int sum = 0;
            foreach (TensorSpec t in Tensors)
            {
                if (t.IsActivation)
                {
                    sum += t.Length * ModelFormat.ElementSize((int)t.Type);
                }
            }

            return sum;
        }
    }

    /// <summary>Bytes of constant parameters.</summary>
    public int ParameterBytes
    {
        get
        {
            int sum = 0;
            foreach (TensorSpec t in Tensors)
            {
                if (!t.IsActivation)
                {
                    sum += t.Length * ModelFormat.ElementSize((int)t.Type);
                }
            }

            return sum;
        }
    }

    /// <summary>Writes the binary model (docs/model-format.md).</summary>
    public byte[] ToBlob()
    {
        if (Tensors.Count > ModelFormat.MaxTensors || Ops.Count > ModelFormat.MaxOps)
        {
            throw new InvalidOperationException($"at most {ModelFormat.MaxTensors} tensors and {ModelFormat.MaxOps} ops");
        }

        var table = new List<byte>();
        foreach (TensorSpec t in Tensors)
        {
            if (t.Length <= 0 || t.Length > ModelFormat.MaxTensorLength)
            {
                throw new InvalidOperationException($"tensor length {t.Length} does not fit 24 bits");
            }

            table.Add((byte)((int)t.Type | ((t.IsActivation ? ModelFormat.KindActivation : ModelFormat.KindConstant) << 4)));
            table.Add((byte)t.Length);
            table.Add((byte)(t.Length >> 8));
            table.Add((byte)(t.Length >> 16));
            if (t.IsActivation)
            {
                table.AddRange(BitConverter.GetBytes(t.Scale));
                table.AddRange(BitConverter.GetBytes((short)t.ZeroPoint));
                table.Add(0);
                table.Add(0);
            }
        }

        foreach (OpSpec op in Ops)
        {
            table.Add((byte)op.Code);
            table.Add((byte)op.Operands.Length);
            table.Add((byte)(sbyte)op.ActMin);
            table.Add((byte)(sbyte)op.ActMax);
            foreach (int operand in op.Operands)
            {
                table.Add(checked((byte)operand));
            }
        }

        int cursor = (ModelFormat.HeaderSize + table.Count + 3) & ~3;
        var offsets = new int[Tensors.Count];
        for (int t = 0; t < Tensors.Count; t++)
        {
            TensorSpec spec = Tensors[t];
            if (spec.IsActivation)
            {
                continue;
            }

            int size = ModelFormat.ElementSize((int)spec.Type);
            cursor = (cursor + size - 1) & ~(size - 1);
            offsets[t] = cursor;
            cursor += spec.Length * size;
        }

        int total = (cursor + 3) & ~3;
        var b = new byte[total];
        LittleEndian.WriteUInt32(b, 0, ModelFormat.Magic);
        LittleEndian.WriteUInt16(b, 4, ModelFormat.Version);
        LittleEndian.WriteUInt16(b, 6, ModelFormat.HeaderSize);
        LittleEndian.WriteInt32(b, 8, total);
        LittleEndian.WriteUInt32(b, 12, ModelId);
        LittleEndian.WriteUInt32(b, 16, ModelVersion);
        LittleEndian.WriteUInt16(b, 20, BoardClass);
        LittleEndian.WriteUInt16(b, 22, IsAnomalyScore ? ModelFormat.FlagAnomalyScore : 0);
        LittleEndian.WriteUInt16(b, 24, Tensors[InputTensor].Length);
        LittleEndian.WriteUInt16(b, 26, Tensors[OutputTensor].Length);
        LittleEndian.WriteUInt16(b, 28, Tensors.Count);
        LittleEndian.WriteUInt16(b, 30, Ops.Count);
        LittleEndian.WriteUInt16(b, 32, InputTensor);
        LittleEndian.WriteUInt16(b, 34, OutputTensor);
        LittleEndian.WriteInt32(b, 36, Threshold);
        LittleEndian.WriteInt32(b, 40, WorkingBytes);
        table.CopyTo(b, ModelFormat.HeaderSize);
        for (int t = 0; t < Tensors.Count; t++)
        {
            TensorSpec spec = Tensors[t];
            if (spec.IsActivation)
            {
                continue;
            }

            int o = offsets[t];
            switch (spec.Data)
            {
                case sbyte[] s:
                    for (int i = 0; i < s.Length; i++)
                    {
                        b[o + i] = (byte)s[i];
                    }

                    break;
                case int[] v:
                    for (int i = 0; i < v.Length; i++)
                    {
                        LittleEndian.WriteInt32(b, o + (4 * i), v[i]);
                    }

                    break;
                case float[] f:
                    for (int i = 0; i < f.Length; i++)
                    {
                        LittleEndian.WriteSingle(b, o + (4 * i), f[i]);
                    }

                    break;
                default:
                    throw new InvalidOperationException($"tensor {t} has no data of its type");
            }
        }

        return ModelFormat.Seal(b);
    }

    /// <summary>Byte offsets of each tensor entry, each op entry and each constant's data in <see cref="ToBlob"/>'s output.</summary>
    public (int[] TensorEntries, int[] OpEntries, int[] ConstantData) Layout()
    {
        var tensors = new int[Tensors.Count];
        int e = ModelFormat.HeaderSize;
        for (int t = 0; t < Tensors.Count; t++)
        {
            tensors[t] = e;
            e += Tensors[t].IsActivation ? ModelFormat.ActivationEntrySize : ModelFormat.ConstantEntrySize;
        }

        var ops = new int[Ops.Count];
        for (int i = 0; i < Ops.Count; i++)
        {
            ops[i] = e;
            e += ModelFormat.OpHeaderSize + Ops[i].Operands.Length;
        }

        int cursor = (e + 3) & ~3;
        var data = new int[Tensors.Count];
        for (int t = 0; t < Tensors.Count; t++)
        {
            if (Tensors[t].IsActivation)
            {
                data[t] = -1;
                continue;
            }

            int size = ModelFormat.ElementSize((int)Tensors[t].Type);
            cursor = (cursor + size - 1) & ~(size - 1);
            data[t] = cursor;
            cursor += Tensors[t].Length * size;
        }

        return (tensors, ops, data);
    }
}
