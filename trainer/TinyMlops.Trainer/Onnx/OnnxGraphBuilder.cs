using System.Collections.Generic;
using System.Linq;
using Google.Protobuf;
using TinyMlops.Trainer.Onnx.Proto;

namespace TinyMlops.Trainer.Onnx;

/// <summary>
/// Builds an ONNX model with the project's own protobuf subset: float inputs and outputs of shape [batch, n],
/// initializers, and nodes. Deterministic: the same calls give the same bytes.
/// </summary>
public sealed class OnnxGraphBuilder
{
    /// <summary>ONNX IR version written (opset 13 needs IR ≥ 7).</summary>
    public const long IrVersion = 8;

    /// <summary>Default-domain opset.</summary>
    public const long Opset = 13;

    private readonly GraphProto _graph;

    /// <summary>Starts a graph named <paramref name="name"/>.</summary>
    public OnnxGraphBuilder(string name)
    {
        _graph = new GraphProto { Name = name };
    }

    /// <summary>Declares a float input [batch, width].</summary>
    public OnnxGraphBuilder Input(string name, int width)
    {
        _graph.Input.Add(Value(name, TensorProto.Types.DataType.Float, width));
        return this;
    }

    /// <summary>Declares an output [batch, width] of <paramref name="type"/>.</summary>
    public OnnxGraphBuilder Output(string name, int width, TensorProto.Types.DataType type = TensorProto.Types.DataType.Float)
    {
        _graph.Output.Add(Value(name, type, width));
        return this;
    }

    /// <summary>Adds a float initializer.</summary>
    public string Constant(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds an int8 initializer (for QDQ graphs).</summary>
    public string ConstantInt8(string name, sbyte[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(values.Select(v => (byte)v).ToArray()) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a node; attributes as (name, value) with value float, long, long[] or string.</summary>
    public string Node(string opType, string output, string[] inputs, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = output + "_" + opType };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach ((string name, object value) in attributes)
        {
            var a = new AttributeProto { Name = name };
            switch (value)
            {
                case float f:
                    a.Type = AttributeProto.Types.AttributeType.Float;
                    a.F = f;
                    break;
                case long i:
                    a.Type = AttributeProto.Types.AttributeType.Int;
                    a.I = i;
                    break;
                case long[] ints:
                    a.Type = AttributeProto.Types.AttributeType.Ints;
                    a.Ints.AddRange(ints);
                    break;
                case string s:
                    a.Type = AttributeProto.Types.AttributeType.String;
                    a.S = ByteString.CopyFromUtf8(s);
                    break;
                default:
                    throw new System.ArgumentException($"attribute {name} has an unsupported type");
            }

            node.Attribute.Add(a);
        }

        _graph.Node.Add(node);
        return output;
    }

    /// <summary>The serialised model.</summary>
    public byte[] Build(string producerVersion, long modelVersion, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "tinymlops",
            ProducerVersion = producerVersion,
            Domain = "tinymlops",
            ModelVersion = modelVersion,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (KeyValuePair<string, string> kv in metadata.OrderBy(kv => kv.Key, System.StringComparer.Ordinal))
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = kv.Key, Value = kv.Value });
        }

        return model.ToByteArray();
    }

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, int width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}
