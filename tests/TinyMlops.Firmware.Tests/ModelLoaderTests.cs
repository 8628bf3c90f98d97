using System;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class ModelLoaderTests
{
    internal static byte[] Blob(string name) => File.ReadAllBytes(Path.Combine(Repo.Conformance, name, "model.tmlm"));

    internal static byte[] Reseal(byte[] b) => ModelFormat.Seal(b);

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

    private static QuantizedModel Spec(string name) => ConformanceVectors.Build().Single(c => c.Name == name).Model;

    [Fact]
    public void A_tensor_longer_than_the_data_section_is_refused()
    {
        byte[] b = Blob("logistic-36");
        QuantizedModel spec = Spec("logistic-36");
        int weights = spec.Ops[1].Operands[1];
        int entry = spec.Layout().TensorEntries[weights];
        b[entry + 1] = 0xFF; // 24-bit length → 0x..FF
        b[entry + 2] = 0xFF;
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0));
        Assert.Equal(ModelError.BadTensor, e.Code);
        Assert.Contains("runs past the blob end", e.Message);
    }

    [Fact]
    public void Shapes_are_checked_along_the_op_sequence()
    {
        // The MLP's second FC reads a 16-wide activation; pointing it at the 36-wide quantised input breaks the
        // weight shape.
        byte[] b = Blob("mlp-36-16-8-3");
        QuantizedModel spec = Spec("mlp-36-16-8-3");
        int[] ops = spec.Layout().OpEntries;
        b[ops[2] + ModelFormat.OpHeaderSize] = (byte)spec.Ops[0].Operands[3];
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0));
        Assert.Equal(ModelError.BadOp, e.Code);
        Assert.Contains("weights", e.Message);
    }

    [Fact]
    public void An_op_reading_an_activation_before_it_is_written_is_refused()
    {
        byte[] b = Blob("mlp-36-16-8-3");
        QuantizedModel spec = Spec("mlp-36-16-8-3");
        int[] ops = spec.Layout().OpEntries;
        b[ops[1] + ModelFormat.OpHeaderSize] = (byte)spec.Ops[2].Operands[5];
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0));
        Assert.Contains("before any op writes it", e.Message);
    }

    [Fact]
    public void Unknown_opcodes_wrong_operand_counts_and_bad_shifts_are_refused()
    {
        QuantizedModel spec = Spec("logistic-36");
        (int[] _, int[] ops, int[] data) = spec.Layout();
        byte[] b = Blob("logistic-36");
        b[ops[0]] = 99;
        Assert.Equal(ModelError.BadOp, ErrorOf(Reseal(b)));

        b = Blob("logistic-36");
        b[ops[1] + 1] = 5;
        Assert.Equal(ModelError.BadHeader, ErrorOf(Reseal(b))); // the op table no longer lines up with the data

        b = Blob("logistic-36");
        b[data[spec.Ops[1].Operands[4]]] = 40;
        Assert.Contains("shift", Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0)).Message);
    }

    [Fact]
    public void Nonzero_padding_is_refused()
    {
        byte[] b = Blob("logistic-36");
        Assert.Equal(0, b[^1] | b[^2] | b[^3]); // its last constant is a 1-byte shift table: 3 bytes of padding follow
        b[^1] = 1;
        Assert.Contains("padding", Assert.Throws<ModelFormatException>(() => Int8Model.Load(Reseal(b), 0, 0)).Message);
    }
}
