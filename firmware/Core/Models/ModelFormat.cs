using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// Constants of the TinyMlops int8 model format, version 1. The byte-by-byte specification is
    /// docs/model-format.md; every number here appears there.
    /// </summary>
    public static class ModelFormat
    {
        /// <summary>"TMLM" read as a little-endian 32-bit value.</summary>
        public const uint Magic = 0x4D4C4D54;

        /// <summary>The only format version this loader reads.</summary>
        public const int Version = 1;

        /// <summary>Size of the fixed header.</summary>
        public const int HeaderSize = 52;

        /// <summary>Offset of the CRC32 field (the last header field).</summary>
        public const int CrcOffset = 48;

        /// <summary>Byte offset of the model version (uint32) in the header.</summary>
        public const int ModelVersionOffset = 16;

        /// <summary>Byte offset of the decision threshold (int32) in the header.</summary>
        public const int ThresholdOffset = 36;

        /// <summary>Size of a constant tensor's entry: type/kind byte and 24-bit length.</summary>
        public const int ConstantEntrySize = 4;

        /// <summary>Size of an activation tensor's entry: type/kind, 24-bit length, float scale, int16 zero point, 2 reserved.</summary>
        public const int ActivationEntrySize = 12;

        /// <summary>Bytes of an op entry before its operands: opcode, operand count, activation min, activation max.</summary>
        public const int OpHeaderSize = 4;

        /// <summary>Largest element count a tensor entry can hold (24 bits).</summary>
        public const int MaxTensorLength = 0xFFFFFF;

        /// <summary>Most tensors a model may declare.</summary>
        public const int MaxTensors = 255;

        /// <summary>Most ops a model may declare.</summary>
        public const int MaxOps = 64;

        /// <summary>Most elements in one activation tensor (keeps every int32 accumulation in range, see the doc).</summary>
        public const int MaxActivationLength = 4096;

        /// <summary>Largest blob the loader accepts (1 MiB; no ESP32 model slot is larger).</summary>
        public const int MaxBlobSize = 1 << 20;

        /// <summary>Most operands an op takes (fully connected: input, weights, bias, multiplier, shift, output).</summary>
        public const int MaxOperands = 6;

        /// <summary>Element type: signed 8-bit.</summary>
        public const int TypeInt8 = 1;

        /// <summary>Element type: signed 32-bit.</summary>
        public const int TypeInt32 = 2;

        /// <summary>Element type: IEEE-754 single.</summary>
        public const int TypeFloat32 = 3;

        /// <summary>Tensor kind: constant data stored in the blob.</summary>
        public const int KindConstant = 0;

        /// <summary>Tensor kind: activation buffer allocated at load (model input, intermediates, output).</summary>
        public const int KindActivation = 1;

        /// <summary>Op: standardise float features and quantise them to int8.</summary>
        public const int OpQuantize = 1;

        /// <summary>Op: int8 fully connected layer with per-output-channel requantisation.</summary>
        public const int OpFullyConnected = 2;

        /// <summary>Op: int8 ReLU (clamp at the zero point).</summary>
        public const int OpRelu = 3;

        /// <summary>Op: sum of squared differences of two int8 vectors (reconstruction error), int32 out.</summary>
        public const int OpSquaredError = 4;

        /// <summary>Op: squared distance to the nearest int8 centroid (and its index), int32 out.</summary>
        public const int OpMinSquaredDistance = 5;

        /// <summary>Header flag: the output is an anomaly score (higher = more anomalous).</summary>
        public const int FlagAnomalyScore = 1;

        /// <summary>Board class meaning "runs on any board".</summary>
        public const int BoardClassAny = 0;

        /// <summary>CRC32 of a blob as its header's CRC field holds it: every byte but that field's own four.</summary>
        public static uint Checksum(byte[] blob)
        {
            uint crc = Crc32.Update(Crc32.Start(), blob, 0, CrcOffset);
            return Crc32.Finish(Crc32.Update(crc, blob, HeaderSize, blob.Length - HeaderSize));
        }

        /// <summary>Writes <see cref="Checksum"/> into the blob's CRC field (after the blob was built or edited).</summary>
        public static byte[] Seal(byte[] blob)
        {
            LittleEndian.WriteUInt32(blob, CrcOffset, Checksum(blob));
            return blob;
        }

        /// <summary>Bytes per element of a tensor type, or 0 for an unknown type.</summary>
        public static int ElementSize(int type)
        {
            if (type == TypeInt8)
            {
                return 1;
            }

            if (type == TypeInt32 || type == TypeFloat32)
            {
                return 4;
            }

            return 0;
        }
    }
}
