using System.Security.Cryptography;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Firmware.Core.Updates
{
    /// <summary>
    /// The signed description of one model release for one node (docs/ota.md, "Manifest"): which model, which
    /// release sequence, which board class, the payload's size and SHA-256, golden vectors for the self-test, and an
    /// HMAC-SHA256 over all of it with the node's own key. Not thread-safe.
    /// </summary>
    public sealed class UpdateManifest
    {
        /// <summary>"TMMF" as a little-endian 32-bit value.</summary>
        public const uint Magic = 0x464D4D54;

        /// <summary>Manifest format version.</summary>
        public const int Version = 1;

        /// <summary>Bytes before the node id.</summary>
        public const int FixedSize = 68;

        /// <summary>HMAC-SHA256 length.</summary>
        public const int MacSize = 32;

        /// <summary>Longest node id in UTF-8 bytes.</summary>
        public const int MaxNodeIdBytes = 64;

        /// <summary>Most golden vectors a manifest may carry.</summary>
        public const int MaxGolden = 64;

        /// <summary>Board class the model is for.</summary>
        public int BoardClass;

        /// <summary>Model id (must match the blob header).</summary>
        public uint ModelId;

        /// <summary>Model version (must match the blob header).</summary>
        public uint ModelVersion;

        /// <summary>Release sequence: must exceed every sequence the node has installed or rejected (anti-rollback).</summary>
        public uint Sequence;

        /// <summary>Payload (model blob) size in bytes.</summary>
        public int PayloadSize;

        /// <summary>SHA-256 of the payload.</summary>
        public byte[] PayloadSha256 = new byte[32];

        /// <summary>The node this manifest was signed for.</summary>
        public string NodeId = "";

        /// <summary>Features per golden input.</summary>
        public int InputLength;

        /// <summary>Raw output bytes per golden vector.</summary>
        public int OutputBytes;

        /// <summary>Golden inputs: <see cref="GoldenCount"/> rows of <see cref="InputLength"/> floats, row-major.</summary>
        public float[] GoldenInputs = new float[0];

        /// <summary>Expected raw outputs: <see cref="GoldenCount"/> rows of <see cref="OutputBytes"/> bytes.</summary>
        public byte[] GoldenOutputs = new byte[0];

        /// <summary>Number of golden vectors.</summary>
        public int GoldenCount;

        /// <summary>The MAC read from (or written into) the encoded manifest.</summary>
        public byte[] Mac = new byte[MacSize];

        /// <summary>
        /// The manifest of <paramref name="blob"/> as release <paramref name="sequence"/> for node
        /// <paramref name="nodeId"/>, unsigned: header fields and digest from the blob, and golden outputs computed by
        /// running the model on <paramref name="golden"/> (rows of its input length, at most <see cref="MaxGolden"/>).
        /// The node's self-test later checks it reproduces them bit for bit. Throws
        /// <see cref="ModelFormatException"/> when the blob does not load, <see cref="System.ArgumentException"/> when the
        /// golden inputs do not fit it or a row does not run.
        /// </summary>
        public static UpdateManifest Describe(byte[] blob, uint sequence, string nodeId, float[] golden)
        {
            Int8Model model = Int8Model.Load(blob, ModelFormat.BoardClassAny, 0);
            int n = model.Header.InputLength;
            if (golden == null || golden.Length == 0 || golden.Length % n != 0 || golden.Length / n > MaxGolden)
            {
                throw new System.ArgumentException("golden inputs must be 1.." + MaxGolden + " rows of " + n + " features", "golden");
            }

            int rows = golden.Length / n;
            int outBytes = model.OutputByteCount;
            UpdateManifest m = new UpdateManifest();
            m.BoardClass = model.Header.BoardClass;
            m.ModelId = model.Header.ModelId;
            m.ModelVersion = model.Header.ModelVersion;
            m.Sequence = sequence;
            m.PayloadSize = blob.Length;
            m.PayloadSha256 = Sha256.Hash(blob, 0, blob.Length);
            m.NodeId = nodeId;
            m.InputLength = n;
            m.OutputBytes = outBytes;
            m.GoldenCount = rows;
            m.GoldenInputs = golden;
            m.GoldenOutputs = new byte[rows * outBytes];
            float[] row = new float[n];
            for (int r = 0; r < rows; r++)
            {
                System.Array.Copy(golden, r * n, row, 0, n);
                if (model.Invoke(row) != Int8Model.StatusOk)
                {
                    throw new System.ArgumentException("golden input row " + r + " does not run", "golden");
                }

                model.CopyOutputBytes(m.GoldenOutputs, r * outBytes);
            }

            return m;
        }

        /// <summary>Encodes the manifest and signs it with <paramref name="key"/>; sets <see cref="Mac"/>.</summary>
        public byte[] EncodeAndSign(byte[] key)
        {
            byte[] node = System.Text.Encoding.UTF8.GetBytes(NodeId);
            if (node.Length > MaxNodeIdBytes || GoldenCount < 1 || GoldenCount > MaxGolden || InputLength < 1 || OutputBytes < 1
                || GoldenInputs.Length != GoldenCount * InputLength || GoldenOutputs.Length != GoldenCount * OutputBytes || PayloadSha256.Length != 32)
            {
                throw new System.ArgumentException("manifest fields are inconsistent (node id, golden vector counts and sizes, digest)");
            }

            int size = FixedSize + node.Length + (4 * GoldenInputs.Length) + GoldenOutputs.Length + MacSize;
            byte[] b = new byte[size];
            LittleEndian.WriteUInt32(b, 0, Magic);
            b[4] = Version;
            LittleEndian.WriteUInt16(b, 8, BoardClass);
            LittleEndian.WriteUInt32(b, 12, ModelId);
            LittleEndian.WriteUInt32(b, 16, ModelVersion);
            LittleEndian.WriteUInt32(b, 20, Sequence);
            LittleEndian.WriteInt32(b, 24, PayloadSize);
            System.Array.Copy(PayloadSha256, 0, b, 28, 32);
            LittleEndian.WriteUInt16(b, 60, GoldenCount);
            LittleEndian.WriteUInt16(b, 62, InputLength);
            LittleEndian.WriteUInt16(b, 64, OutputBytes);
            b[66] = (byte)node.Length;
            int o = FixedSize;
            System.Array.Copy(node, 0, b, o, node.Length);
            o += node.Length;
            for (int i = 0; i < GoldenInputs.Length; i++)
            {
                LittleEndian.WriteSingle(b, o, GoldenInputs[i]);
                o += 4;
            }

            System.Array.Copy(GoldenOutputs, 0, b, o, GoldenOutputs.Length);
            o += GoldenOutputs.Length;
            Mac = ComputeMac(key, b, o);
            System.Array.Copy(Mac, 0, b, o, MacSize);
            return b;
        }

        /// <summary>
        /// Parses <paramref name="b"/> and checks its structure and its MAC against <paramref name="key"/>.
        /// Returns <see cref="UpdateError.None"/> and the manifest in <paramref name="manifest"/>, or the reason.
        /// </summary>
        public static int TryParse(byte[] b, byte[] key, out UpdateManifest? manifest)
        {
            manifest = null;
            if (b == null || b.Length < FixedSize + MacSize || LittleEndian.ReadUInt32(b, 0) != Magic || b[4] != Version)
            {
                return UpdateError.MalformedManifest;
            }

            UpdateManifest m = new UpdateManifest();
            m.BoardClass = LittleEndian.ReadUInt16(b, 8);
            m.ModelId = LittleEndian.ReadUInt32(b, 12);
            m.ModelVersion = LittleEndian.ReadUInt32(b, 16);
            m.Sequence = LittleEndian.ReadUInt32(b, 20);
            m.PayloadSize = LittleEndian.ReadInt32(b, 24);
            System.Array.Copy(b, 28, m.PayloadSha256, 0, 32);
            m.GoldenCount = LittleEndian.ReadUInt16(b, 60);
            m.InputLength = LittleEndian.ReadUInt16(b, 62);
            m.OutputBytes = LittleEndian.ReadUInt16(b, 64);
            int nodeLength = b[66];
            if (b[5] != 0 || b[6] != 0 || b[7] != 0 || b[10] != 0 || b[11] != 0 || b[67] != 0)
            {
                return UpdateError.MalformedManifest;
            }

            if (nodeLength > MaxNodeIdBytes || m.GoldenCount < 1 || m.GoldenCount > MaxGolden || m.InputLength < 1 || m.OutputBytes < 1 || m.PayloadSize <= 0)
            {
                return UpdateError.MalformedManifest;
            }

            long expected = (long)FixedSize + nodeLength + (4L * m.GoldenCount * m.InputLength) + ((long)m.GoldenCount * m.OutputBytes) + MacSize;
            if (expected != b.Length)
            {
                return UpdateError.MalformedManifest;
            }

            int macAt = b.Length - MacSize;
            byte[] mac = ComputeMac(key, b, macAt);
            int diff = 0;
            for (int i = 0; i < MacSize; i++)
            {
                diff |= mac[i] ^ b[macAt + i];
            }

            if (diff != 0)
            {
                return UpdateError.BadSignature;
            }

            // Only a manifest whose MAC verified is decoded any further.
            m.NodeId = new string(System.Text.Encoding.UTF8.GetChars(b, FixedSize, nodeLength));
            int o = FixedSize + nodeLength;
            m.GoldenInputs = new float[m.GoldenCount * m.InputLength];
            for (int i = 0; i < m.GoldenInputs.Length; i++)
            {
                m.GoldenInputs[i] = LittleEndian.ReadSingle(b, o);
                o += 4;
            }

            m.GoldenOutputs = new byte[m.GoldenCount * m.OutputBytes];
            System.Array.Copy(b, o, m.GoldenOutputs, 0, m.GoldenOutputs.Length);
            System.Array.Copy(b, macAt, m.Mac, 0, MacSize);
            manifest = m;
            return UpdateError.None;
        }

        private static byte[] ComputeMac(byte[] key, byte[] data, int count)
        {
            byte[] body = new byte[count];
            System.Array.Copy(data, 0, body, 0, count);

            // nanoFramework's HMACSHA256 keeps the array it is given and clears it on Dispose: give it a copy, or the
            // node's key is all zeros after the first manifest (and a manifest MAC'd with an empty key then verifies).
            byte[] keyCopy = new byte[key.Length];
            System.Array.Copy(key, 0, keyCopy, 0, key.Length);
            using (HMACSHA256 h = new HMACSHA256(keyCopy))
            {
                return h.ComputeHash(body);
            }
        }
    }
}
