using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Tests.Shared
{
    /// <summary>
    /// Model-update scenarios, written once in the nanoFramework subset and run by both the host xunit tests and the
    /// on-device NFUnitTest project. Each throws <see cref="System.Exception"/> with a message on failure.
    /// </summary>
    public static class UpdateCases
    {
        /// <summary>Key every scenario signs with (16+ bytes, as a provisioned node has).</summary>
        public static readonly byte[] NodeKey = { 0x4e, 0x6f, 0x64, 0x65, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x21, 0x99, 0x07, 0x5a };

        /// <summary>Node id every scenario uses.</summary>
        public const string NodeId = "line1-pump3";

        /// <summary>Largest model the scenarios' node accepts.</summary>
        public const int MaxModelBytes = 65536;

        /// <summary>Bytes per OTA chunk in the scenarios (small, so a model takes many steps).</summary>
        public const int ChunkSize = 256;

        /// <summary>
        /// Signs a manifest for <paramref name="blob"/> whose golden outputs are what the model computes for
        /// <paramref name="golden"/> (rows of the model's input length). <paramref name="breakGolden"/> flips one
        /// expected bit so the self-test must fail.
        /// </summary>
        public static byte[] Manifest(byte[] blob, uint sequence, float[] golden, bool breakGolden)
        {
            UpdateManifest m = UpdateManifest.Describe(blob, sequence, NodeId, golden);
            if (breakGolden)
            {
                m.GoldenOutputs[0] ^= 1;
            }

            return m.EncodeAndSign(NodeKey);
        }

        /// <summary>A node over <paramref name="storage"/>, booted.</summary>
        public static ModelUpdater Node(IModelStorage storage)
        {
            ModelUpdater u = new ModelUpdater(storage, NodeKey, NodeId, ModelFormat.BoardClassAny, MaxModelBytes, 0);
            u.Boot();
            return u;
        }

        /// <summary>Offers <paramref name="manifest"/> and streams <paramref name="blob"/> until the node stops asking.</summary>
        public static OtaStatusMessage Deliver(ModelUpdater node, byte[] manifest, byte[] blob, uint sequence)
        {
            OtaStatusMessage s = node.Offer(manifest);
            int guard = 0;
            while (s.State == UpdateState.Downloading && guard++ < 100000)
            {
                int offset = s.NextOffset;
                int count = blob.Length - offset < ChunkSize ? blob.Length - offset : ChunkSize;
                byte[] chunk = new byte[count];
                System.Array.Copy(blob, offset, chunk, 0, count);
                s = node.Chunk(sequence, offset, chunk, 0, count);
            }

            return s;
        }

        /// <summary>The golden inputs every scenario's manifests carry (four 36-feature windows), the same on host and device.</summary>
        public static float[] Golden()
        {
            float[] g = new float[4 * 36];
            for (int i = 0; i < g.Length; i++)
            {
                g[i] = (float)System.Math.Sin(i * 0.37) * 2f;
            }

            return g;
        }

        /// <summary>Byte offset of the model version in the model header (docs/model-format.md).</summary>
        public const int ModelVersionOffset = ModelFormat.ModelVersionOffset;

        /// <summary>
        /// <paramref name="blob"/> as model version <paramref name="version"/>, its CRC rewritten. Every scenario makes its
        /// releases with it, so the host and the device run the very same bytes whatever versions the source models
        /// carry (the two conformance models are both version 1: given as they are, the scenarios cannot tell them apart).
        /// </summary>
        public static byte[] AsVersion(byte[] blob, uint version)
        {
            byte[] b = (byte[])blob.Clone();
            LittleEndian.WriteUInt32(b, ModelVersionOffset, version);
            return ModelFormat.Seal(b);
        }

        /// <summary>A fresh node installs v1, then v2; both confirm, and a reboot runs v2 from the other slot.</summary>
        public static void InstallAndUpgrade(byte[] v1, byte[] v2, float[] golden)
        {
            v1 = AsVersion(v1, 1);
            v2 = AsVersion(v2, 2);
            FaultyStorage storage = new FaultyStorage();
            ModelUpdater node = Node(storage);
            Check(node.ActiveModel == null, "a fresh node has no model");
            OtaStatusMessage s = Deliver(node, Manifest(v1, 1, golden, false), v1, 1);
            Check(s.State == UpdateState.Confirmed && node.InstalledSequence == 1, "v1 did not confirm: " + node.LastMessage);
            s = Deliver(node, Manifest(v2, 2, golden, false), v2, 2);
            Check(s.State == UpdateState.Confirmed && node.InstalledSequence == 2, "v2 did not confirm: " + node.LastMessage);
            int slot = node.ActiveSlot;
            ModelUpdater rebooted = Node(storage);
            Check(rebooted.InstalledSequence == 2 && rebooted.ActiveSlot == slot && rebooted.ActiveModel != null, "after reboot v2 does not run from slot " + slot);
            Check(rebooted.ActiveModel!.Header.ModelVersion == Int8Model.ReadHeader(v2).ModelVersion, "after reboot the running model is not v2");
        }

        /// <summary>Refusals: bad signature, wrong node, replayed or older sequence, oversize payload, corrupt payload.</summary>
        public static void RefusesBadOffers(byte[] v1, byte[] v2, float[] golden)
        {
            v1 = AsVersion(v1, 1);
            v2 = AsVersion(v2, 2);
            FaultyStorage storage = new FaultyStorage();
            ModelUpdater node = Node(storage);
            byte[] manifest = Manifest(v1, 5, golden, false);
            byte[] tampered = (byte[])manifest.Clone();
            tampered[20] ^= 0x01; // sequence field
            Check(node.Offer(tampered).Error == UpdateError.BadSignature, "a tampered manifest was not refused for its signature");
            byte[] truncated = new byte[manifest.Length - 1];
            System.Array.Copy(manifest, truncated, truncated.Length);
            Check(node.Offer(truncated).Error == UpdateError.MalformedManifest, "a truncated manifest was not refused as malformed");
            Check(Deliver(node, manifest, v1, 5).State == UpdateState.Confirmed, "v1 did not install");
            Check(node.Offer(manifest).Error == UpdateError.Rollback, "a replayed manifest was accepted");
            Check(node.Offer(Manifest(v2, 4, golden, false)).Error == UpdateError.Rollback, "an older sequence was accepted");

            byte[] corrupt = (byte[])v2.Clone();
            byte[] goodManifest = Manifest(v2, 6, golden, false);
            corrupt[corrupt.Length - 1] ^= 0x40;
            OtaStatusMessage s = Deliver(node, goodManifest, corrupt, 6);
            Check(s.State == UpdateState.Refused && s.Error == UpdateError.DigestMismatch, "a corrupted payload was not refused by its digest");
            Check(node.InstalledSequence == 5 && node.ActiveModel != null, "a refused payload disturbed the running model");
            Check(Deliver(node, goodManifest, v2, 6).State == UpdateState.Confirmed, "the intact payload was not accepted after a digest failure");

            ModelUpdater small = new ModelUpdater(new FaultyStorage(), NodeKey, NodeId, ModelFormat.BoardClassAny, v1.Length - 1, 0);
            small.Boot();
            Check(small.Offer(Manifest(v1, 1, golden, false)).Error == UpdateError.TooLarge, "a payload larger than the slot was accepted");
            ModelUpdater other = new ModelUpdater(new FaultyStorage(), NodeKey, "other-node", ModelFormat.BoardClassAny, MaxModelBytes, 0);
            other.Boot();
            Check(other.Offer(Manifest(v1, 1, golden, false)).Error == UpdateError.WrongNode, "a manifest for another node was accepted");
        }

        /// <summary>A model that does not reproduce its golden vectors is rolled back; the old one keeps running.</summary>
        public static void SelfTestFailureRollsBack(byte[] v1, byte[] v2, float[] golden)
        {
            v1 = AsVersion(v1, 1);
            v2 = AsVersion(v2, 2);
            FaultyStorage storage = new FaultyStorage();
            ModelUpdater node = Node(storage);
            Check(Deliver(node, Manifest(v1, 1, golden, false), v1, 1).State == UpdateState.Confirmed, "v1 did not install");
            OtaStatusMessage s = Deliver(node, Manifest(v2, 2, golden, true), v2, 2);
            Check(s.State == UpdateState.RolledBack && s.Error == UpdateError.SelfTestFailed, "a failing self-test was not rolled back");
            Check(node.InstalledSequence == 1 && node.ActiveModel!.Header.ModelVersion == Int8Model.ReadHeader(v1).ModelVersion, "v1 does not run after the rollback");
            ModelUpdater rebooted = Node(storage);
            Check(rebooted.InstalledSequence == 1 && rebooted.HighestSequence == 2, "after reboot v1 must run and release 2 stay burned");
            Check(rebooted.Offer(Manifest(v2, 2, golden, false)).Error == UpdateError.Rollback, "a rolled-back release was accepted again");
        }

        /// <summary>A download cut by a reset resumes from the bytes already stored.</summary>
        public static void ResumesAfterReset(byte[] v1, float[] golden)
        {
            v1 = AsVersion(v1, 1);
            FaultyStorage storage = new FaultyStorage();
            ModelUpdater node = Node(storage);
            byte[] manifest = Manifest(v1, 1, golden, false);
            OtaStatusMessage s = node.Offer(manifest);
            int sent = 0;
            while (sent < v1.Length / 2)
            {
                byte[] chunk = new byte[ChunkSize];
                System.Array.Copy(v1, sent, chunk, 0, ChunkSize);
                s = node.Chunk(1, sent, chunk, 0, ChunkSize);
                sent += ChunkSize;
            }

            ModelUpdater rebooted = Node(storage);
            Check(rebooted.State == UpdateState.Downloading, "after reset the download is not resumed");
            s = rebooted.Offer(manifest);
            Check(s.NextOffset == sent, "resume point is " + s.NextOffset + ", expected " + sent);
            Check(Deliver(rebooted, manifest, v1, 1).State == UpdateState.Confirmed, "the resumed download did not confirm");
        }

        /// <summary>
        /// The node holds v1; the update to v2 loses power at step k, for every write step k of the update. After each
        /// reboot the node must run a valid model (v1 or v2, proven on its golden vectors), and delivering v2 again must
        /// end with v2 confirmed, or v1 with release 2 burned when the reset hit it pending verification.
        /// Returns the number of write steps tested.
        /// </summary>
        public static int PowerLossAtEveryStep(byte[] v1, byte[] v2, float[] golden)
        {
            v1 = AsVersion(v1, 1);
            v2 = AsVersion(v2, 2);
            byte[] m1 = Manifest(v1, 1, golden, false);
            byte[] m2 = Manifest(v2, 2, golden, false);
            uint version1 = Int8Model.ReadHeader(v1).ModelVersion;
            uint version2 = Int8Model.ReadHeader(v2).ModelVersion;

            FaultyStorage probe = new FaultyStorage();
            Check(Deliver(Node(probe), m1, v1, 1).State == UpdateState.Confirmed, "v1 did not install");
            probe.Steps = 0;
            Check(Deliver(Node(probe), m2, v2, 2).State == UpdateState.Confirmed, "v2 did not install without faults");
            int total = probe.Steps;
            Check(total > 4, "an update must take several write steps");

            for (int k = 1; k <= total; k++)
            {
                FaultyStorage storage = new FaultyStorage();
                Deliver(Node(storage), m1, v1, 1);
                storage.Steps = 0;
                storage.FailAtStep = k;
                try
                {
                    Deliver(Node(storage), m2, v2, 2);
                }
                catch (PowerLossException)
                {
                }

                Check(storage.PoweredOff, "step " + k + ": the power loss was not injected");
                storage.PowerOn();
                ModelUpdater node = Node(storage);
                Int8Model? running = node.ActiveModel;
                Check(running != null, "step " + k + ": the node booted without a model (" + node.LastMessage + ")");
                uint v = running!.Header.ModelVersion;
                Check((v == version1 && node.InstalledSequence == 1) || (v == version2 && node.InstalledSequence == 2), "step " + k + ": the running model does not match the installed release");
                Check(ReproducesGolden(running, v == version1 ? m1 : m2), "step " + k + ": the running model does not reproduce its golden vectors");

                OtaStatusMessage s = Deliver(node, m2, v2, 2);
                bool burned = node.HighestSequence == 2 && node.InstalledSequence == 1;
                Check(node.InstalledSequence == 2 || (burned && s.Error == UpdateError.Rollback), "step " + k + ": after recovery v2 neither installed nor was refused as rolled back (state " + s.State + ", error " + s.Error + ")");
                ModelUpdater again = Node(storage);
                Check(again.ActiveModel != null && again.InstalledSequence == node.InstalledSequence, "step " + k + ": a second reboot changed the running model");
            }

            return total;
        }

        private static bool ReproducesGolden(Int8Model model, byte[] manifestBytes)
        {
            UpdateManifest? m;
            Check(UpdateManifest.TryParse(manifestBytes, NodeKey, out m) == UpdateError.None, "manifest does not parse");
            return ModelUpdater.ReproducesGoldenVectors(model, m!);
        }

        /// <summary>Throws with <paramref name="message"/> unless <paramref name="condition"/> holds.</summary>
        public static void Check(bool condition, string message)
        {
            if (!condition)
            {
                throw new System.Exception(message);
            }
        }
    }
}
