using System;
using System.IO;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class ModelLoaderTests
{
    internal static byte[] Blob(string name) => File.ReadAllBytes(Path.Combine(Repo.Conformance, name, "model.tmlm"));

    internal static byte[] Reseal(byte[] b)
    {
        uint crc = Crc32.Update(Crc32.Start(), b, 0, ModelFormat.CrcOffset);
        crc = Crc32.Finish(Crc32.Update(crc, b, ModelFormat.HeaderSize, b.Length - ModelFormat.HeaderSize));
        LittleEndian.WriteUInt32(b, ModelFormat.CrcOffset, crc);
        return b;
    }

    private static ModelError ErrorOf(byte[] blob, int boardClass = 0, int maxWorking = 0) =>
        Assert.Throws<ModelFormatException>(() => Int8Model.Load(blob, boardClass, maxWorking)).Code;

    [Fact]
    public void A_valid_model_loads_with_its_header_and_figures()
    {
        Int8Model m = Int8Model.Load(Blob("mlp-36-16-8-3"), 1, 0);
        Assert.Equal(36, m.Header.InputLength);
        Assert.Equal(3, m.Header.OutputLength);
        Assert.Equal(102u, m.Header.ModelId);
        Assert.Equal((36 * 16) + (16 * 8) + (8 * 3), m.Macs);
        Assert.True(m.OutputIsInt8);
    }

    [Fact]
    public void Header_faults_get_their_own_error()
    {
        byte[] good = Blob("pca-36-6");
        Assert.Equal(ModelError.Truncated, ErrorOf(good.AsSpan(0, 20).ToArray()));
        Assert.Equal(ModelError.Truncated, ErrorOf(good.AsSpan(0, good.Length - 4).ToArray()));

        byte[] b = (byte[])good.Clone();
        b[0] = (byte)'X';
        Assert.Equal(ModelError.BadMagic, ErrorOf(b));

        b = (byte[])good.Clone();
        b[4] = 2;
        Assert.Equal(ModelError.UnsupportedVersion, ErrorOf(b));

        b = (byte[])good.Clone();
        b[b.Length - 9] ^= 0x10;
        Assert.Equal(ModelError.BadChecksum, ErrorOf(b));

        b = (byte[])good.Clone();
        LittleEndian.WriteUInt16(b, 30, 0); // no ops
        Assert.Equal(ModelError.BadHeader, ErrorOf(Reseal(b)));

        b = (byte[])good.Clone();
        LittleEndian.WriteInt32(b, 40, 1); // declared working bytes wrong
        Assert.Equal(ModelError.BadHeader, ErrorOf(Reseal(b)));
    }

    [Fact]
    public void Board_and_memory_budgets_are_enforced()
    {
        var m = PostTrainingQuantizer.Quantize(
            new FloatDetector { Mean = new float[4], Std = new[] { 1f, 1f, 1f, 1f }, Layers = { new DenseLayer(new[] { new[] { 1f, 2f, 3f, 4f } }, new[] { 0f }, false) } },
            new[] { new[] { 1f, 2f, 3f, 4f } }, 1, 1, boardClass: 2);
        byte[] blob = m.ToBlob();
        Assert.Equal(ModelError.WrongBoard, ErrorOf(blob, boardClass: 3));
        Int8Model.Load(blob, 2, 0);
        Assert.Equal(ModelError.TooLarge, ErrorOf(blob, 2, maxWorking: m.WorkingBytes - 1));
    }

    [Fact]
    public void A_constant_pointing_outside_the_blob_is_refused()
    {
        byte[] b = Blob("logistic-36");
        int firstConst = FindTensor(b, ModelFormat.KindConstant);
        LittleEndian.WriteInt32(b, ModelFormat.HeaderSize + (firstConst * ModelFormat.TensorEntrySize) + 8, b.Length - 2);
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0));
        Assert.Equal(ModelError.BadTensor, e.Code);
        Assert.Contains("outside the data section", e.Message);
    }

    [Fact]
    public void Shapes_are_checked_along_the_op_sequence()
    {
        // The MLP's second FC reads a 16-wide activation; pointing it at the 36-wide quantised input breaks the
        // weight shape.
        byte[] b = Blob("mlp-36-16-8-3");
        int ops = ModelFormat.HeaderSize + (LittleEndian.ReadUInt16(b, 28) * ModelFormat.TensorEntrySize);
        int quantizedInput = LittleEndian.ReadUInt16(b, ops + 4 + 6);          // op 0, operand 3 (output)
        LittleEndian.WriteUInt16(b, ops + (2 * ModelFormat.OpEntrySize) + 4, quantizedInput); // op 2, operand 0
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0));
        Assert.Equal(ModelError.BadOp, e.Code);
        Assert.Contains("weights", e.Message);
    }

    [Fact]
    public void An_op_reading_an_activation_before_it_is_written_is_refused()
    {
        byte[] b = Blob("mlp-36-16-8-3");
        int ops = ModelFormat.HeaderSize + (LittleEndian.ReadUInt16(b, 28) * ModelFormat.TensorEntrySize);
        int laterOutput = LittleEndian.ReadUInt16(b, ops + (2 * ModelFormat.OpEntrySize) + 4 + 10);
        LittleEndian.WriteUInt16(b, ops + ModelFormat.OpEntrySize + 4, laterOutput);
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0));
        Assert.Contains("before any op writes it", e.Message);
    }

    [Fact]
    public void Unknown_opcodes_and_bad_shifts_are_refused()
    {
        byte[] b = Blob("logistic-36");
        int ops = ModelFormat.HeaderSize + (LittleEndian.ReadUInt16(b, 28) * ModelFormat.TensorEntrySize);
        b[ops] = 99;
        Assert.Equal(ModelError.BadOp, ErrorOf(Reseal(b)));

        b = Blob("logistic-36");
        int shiftTensor = LittleEndian.ReadUInt16(b, ops + ModelFormat.OpEntrySize + 4 + 8);
        int shiftOffset = LittleEndian.ReadInt32(b, ModelFormat.HeaderSize + (shiftTensor * ModelFormat.TensorEntrySize) + 8);
        b[shiftOffset] = 40;
        Assert.Contains("shift", Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0)).Message);
    }

    private static int FindTensor(byte[] b, int kind)
    {
        int count = LittleEndian.ReadUInt16(b, 28);
        for (int t = 0; t < count; t++)
        {
            if (b[ModelFormat.HeaderSize + (t * ModelFormat.TensorEntrySize) + 1] == kind)
            {
                return t;
            }
        }

        throw new InvalidOperationException("no such tensor");
    }
}
