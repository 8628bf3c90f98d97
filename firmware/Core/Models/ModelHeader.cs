namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>The fixed header of a model blob (docs/model-format.md, "Header").</summary>
    public sealed class ModelHeader
    {
        /// <summary>Format version (always <see cref="ModelFormat.Version"/> once loaded).</summary>
        public int FormatVersion;

        /// <summary>Declared size of the whole blob in bytes.</summary>
        public int TotalSize;

        /// <summary>Model id: which detector this is (stable across versions).</summary>
        public uint ModelId;

        /// <summary>Model version: which build of that detector.</summary>
        public uint ModelVersion;

        /// <summary>Board class the model was built for (<see cref="ModelFormat.BoardClassAny"/> = any).</summary>
        public int BoardClass;

        /// <summary>Header flags (<see cref="ModelFormat.FlagAnomalyScore"/>).</summary>
        public int Flags;

        /// <summary>Number of float features the model takes (input shape is [1, InputLength]).</summary>
        public int InputLength;

        /// <summary>Number of output elements.</summary>
        public int OutputLength;

        /// <summary>Number of tensor-table entries.</summary>
        public int TensorCount;

        /// <summary>Number of op-table entries.</summary>
        public int OpCount;

        /// <summary>Index of the model's input tensor (float32 activation).</summary>
        public int InputTensor;

        /// <summary>Index of the model's output tensor.</summary>
        public int OutputTensor;

        /// <summary>Decision threshold in output units: output[0] &gt; threshold means "anomalous" / "positive".</summary>
        public int Threshold;

        /// <summary>Declared working memory (activation buffers) in bytes; the loader recomputes and compares it.</summary>
        public int WorkingBytes;

        /// <summary>CRC32 stored in the header.</summary>
        public uint Crc;
    }
}
