using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Firmware.Core.Updates
{
    /// <summary>
    /// The node's model-update state machine (docs/ota.md). Models travel as data: a signed manifest, then the blob
    /// in chunks into a staging file, then into the inactive A/B slot, a self-test on the manifest's golden vectors,
    /// and confirmation, or rollback when the self-test fails or the node resets before confirming.
    /// Every storage write is ordered so that a power loss at any step boots a valid model (tested step by step).
    /// Not thread-safe: drive it from one thread (the MQTT receive handler queues to it on the device).
    /// </summary>
    public sealed class ModelUpdater
    {
        /// <summary>Slot file names, A then B.</summary>
        public static readonly string[] SlotFiles = { "model-a.tmlm", "model-b.tmlm" };

        /// <summary>The two boot record copies.</summary>
        public static readonly string[] RecordFiles = { "boot-0.rec", "boot-1.rec" };

        /// <summary>Accepted manifest of the update being downloaded.</summary>
        public const string IncomingManifestFile = "incoming.man";

        /// <summary>Payload received so far.</summary>
        public const string IncomingPayloadFile = "incoming.bin";

        private readonly IModelStorage _storage;
        private readonly byte[] _key;
        private readonly string _nodeId;
        private readonly int _boardClass;
        private readonly int _maxModelBytes;
        private readonly int _maxRamBytes;
        private BootRecord _record = new BootRecord();
        private UpdateManifest? _incoming;
        private byte[]? _incomingBytes;
        private int _received;
        private Int8Model? _active;
        private int _state = UpdateState.Idle;
        private int _lastError = UpdateError.None;
        private string _lastMessage = "";

        /// <summary>
        /// <paramref name="nodeKey"/>: this node's HMAC key; <paramref name="maxModelBytes"/> and
        /// <paramref name="maxRamBytes"/>: the board profile's model slot and model RAM budgets.
        /// </summary>
        public ModelUpdater(IModelStorage storage, byte[] nodeKey, string nodeId, int boardClass, int maxModelBytes, int maxRamBytes)
        {
            if (storage == null || nodeKey == null || nodeKey.Length < 16 || nodeId == null)
            {
                throw new System.ArgumentException("storage, a node key of at least 16 bytes and a node id are required");
            }

            _storage = storage;
            _key = new byte[nodeKey.Length]; // our own copy: the caller's array may be reused or cleared
            System.Array.Copy(nodeKey, 0, _key, 0, nodeKey.Length);
            _nodeId = nodeId;
            _boardClass = boardClass;
            _maxModelBytes = maxModelBytes;
            _maxRamBytes = maxRamBytes;
        }

        /// <summary>
        /// When set, every model (installed or offered) must also pass this per-window budget; one that does not is
        /// refused with <see cref="UpdateError.OverBudget"/> (or, in a slot, treated as unusable).
        /// </summary>
        public Node.PipelineBudget? Budget;

        /// <summary>The confirmed model the node runs, or null when none is installed.</summary>
        public Int8Model? ActiveModel
        {
            get { return _active; }
        }

        /// <summary>Release sequence of the confirmed model (0 = none).</summary>
        public uint InstalledSequence
        {
            get { return _record.ActiveSequence; }
        }

        /// <summary>Highest release sequence installed or rejected: offers must exceed it.</summary>
        public uint HighestSequence
        {
            get { return _record.HighestSequence; }
        }

        /// <summary>Slot of the confirmed model (0 = A, 1 = B, 255 = none).</summary>
        public int ActiveSlot
        {
            get { return _record.ActiveSlot; }
        }

        /// <summary>Current <see cref="UpdateState"/>.</summary>
        public int State
        {
            get { return _state; }
        }

        /// <summary>Last <see cref="UpdateError"/> (0 = none).</summary>
        public int LastError
        {
            get { return _lastError; }
        }

        /// <summary>Human-readable detail of the last error.</summary>
        public string LastMessage
        {
            get { return _lastMessage; }
        }

        /// <summary>
        /// Reads the boot record, rolls back a trial that was not confirmed before the reset, loads the confirmed model
        /// and resumes an interrupted download. Call once at start-up.
        /// </summary>
        public void Boot()
        {
            _record = ReadRecord();
            _state = _record.LastState;
            _lastError = _record.LastError;
            _incoming = null;
            _incomingBytes = null;
            _received = 0;
            if (_record.TrialSlot != BootRecord.NoSlot)
            {
                // Reset while pending verification: the trial never proved itself, so it is rolled back and its
                // sequence burned (it will not be retried).
                uint trial = _record.TrialSequence;
                _record.TrialSlot = BootRecord.NoSlot;
                if (trial > _record.HighestSequence)
                {
                    _record.HighestSequence = trial;
                }

                Finish(UpdateState.RolledBack, UpdateError.ResetBeforeConfirm, "release " + trial + " was pending verification at reset; rolled back");
                _storage.Delete(IncomingPayloadFile);
                _storage.Delete(IncomingManifestFile);
            }

            _active = null;
            if (_record.ActiveSlot != BootRecord.NoSlot)
            {
                string error = "";
                _active = LoadSlot(_record.ActiveSlot, ref error);
                if (_active == null)
                {
                    Fail(UpdateError.InvalidModel, "confirmed slot does not load: " + error);
                }
            }

            ResumeDownload();
        }

        /// <summary>Handles an offered manifest; returns the status to send back.</summary>
        public OtaStatusMessage Offer(byte[] manifestBytes)
        {
            UpdateManifest? m;
            int error = UpdateManifest.TryParse(manifestBytes, _key, out m);
            if (error != UpdateError.None)
            {
                return Refuse(error, error == UpdateError.BadSignature ? "manifest signature does not verify with this node's key" : "manifest is malformed", 0);
            }

            UpdateManifest manifest = m!;
            if (manifest.NodeId != _nodeId)
            {
                return Refuse(UpdateError.WrongNode, "manifest is for node '" + manifest.NodeId + "'", manifest.Sequence);
            }

            if (manifest.BoardClass != ModelFormat.BoardClassAny && manifest.BoardClass != _boardClass)
            {
                return Refuse(UpdateError.WrongBoard, "manifest is for board class " + manifest.BoardClass + ", this node is class " + _boardClass, manifest.Sequence);
            }

            if (manifest.Sequence <= _record.HighestSequence)
            {
                return Refuse(UpdateError.Rollback, "release " + manifest.Sequence + " is not above " + _record.HighestSequence, manifest.Sequence);
            }

            if (manifest.PayloadSize > _maxModelBytes)
            {
                return Refuse(UpdateError.TooLarge, "payload of " + manifest.PayloadSize + " bytes exceeds the " + _maxModelBytes + "-byte model slot", manifest.Sequence);
            }

            if (_incoming != null && _incoming.Sequence == manifest.Sequence && SameBytes(_incomingBytes!, manifestBytes))
            {
                // The same release again (gateway retry, or after our reset): resume where the payload stopped.
                if (_received == _incoming.PayloadSize)
                {
                    return Complete();
                }

                return StatusOf(UpdateState.Downloading);
            }

            try
            {
                // Payload first, then the manifest: a reset in between leaves no payload that could be mistaken
                // for the new release's.
                _storage.Delete(IncomingPayloadFile);
                _incoming = null;
                _storage.Write(IncomingManifestFile, manifestBytes, 0, manifestBytes.Length);
            }
            catch (System.Exception e)
            {
                return Refuse(UpdateError.StorageFailure, "could not stage the manifest: " + e.Message, manifest.Sequence);
            }

            _incoming = manifest;
            _incomingBytes = manifestBytes;
            _received = 0;
            _state = UpdateState.Downloading;
            _lastError = UpdateError.None;
            _lastMessage = "";
            return StatusOf(UpdateState.Downloading);
        }

        /// <summary>Handles one payload chunk; returns the status to send back (its NextOffset says what to send next).</summary>
        public OtaStatusMessage Chunk(uint releaseSequence, int offset, byte[] data, int dataOffset, int count)
        {
            if (_incoming == null)
            {
                return Refuse(UpdateError.NoUpdate, "no update in progress", releaseSequence);
            }

            if (releaseSequence != _incoming.Sequence)
            {
                return Refuse(UpdateError.BadChunk, "chunk for release " + releaseSequence + ", downloading " + _incoming.Sequence, releaseSequence);
            }

            if (data == null || dataOffset < 0 || count < 0 || dataOffset > data.Length - count || offset < 0 || count > _incoming.PayloadSize - offset)
            {
                return Refuse(UpdateError.BadChunk, "chunk runs past the " + _incoming.PayloadSize + "-byte payload", releaseSequence);
            }

            if (offset != _received)
            {
                // Out of order or duplicate: not an error; the status tells the sender where to resume.
                return StatusOf(UpdateState.Downloading);
            }

            try
            {
                _storage.Append(IncomingPayloadFile, data, dataOffset, count);
                _received += count;
            }
            catch (System.Exception e)
            {
                int length = _storage.Length(IncomingPayloadFile);
                _received = length < 0 ? 0 : length;
                return Refuse(UpdateError.StorageFailure, "could not store the chunk: " + e.Message, releaseSequence);
            }

            if (_received == _incoming.PayloadSize)
            {
                return Complete();
            }

            return StatusOf(UpdateState.Downloading);
        }

        /// <summary>
        /// Installs a release whose manifest and payload are both at hand (files written at provisioning, a model a
        /// gateway keeps for its own local node): the same offer, chunks, digest, self-test and A/B switch as an
        /// update over the air, fed from <paramref name="payload"/> in slices of <paramref name="chunkBytes"/>.
        /// Returns the final status (Confirmed, or the refusal and its reason).
        /// </summary>
        public OtaStatusMessage Install(byte[] manifestBytes, byte[] payload, int chunkBytes)
        {
            OtaStatusMessage s = Offer(manifestBytes);
            if (payload == null || chunkBytes < 1)
            {
                return s.State == UpdateState.Downloading ? Refuse(UpdateError.BadChunk, "no payload to install", s.ReleaseSequence) : s;
            }

            int guard = (payload.Length / chunkBytes) + 2;
            while (s.State == UpdateState.Downloading && guard-- > 0)
            {
                int offset = s.NextOffset;
                int count = payload.Length - offset < chunkBytes ? payload.Length - offset : chunkBytes;
                if (count <= 0)
                {
                    return Refuse(UpdateError.BadChunk, "payload of " + payload.Length + " bytes is shorter than the manifest says", s.ReleaseSequence);
                }

                s = Chunk(s.ReleaseSequence, offset, payload, offset, count);
            }

            return s;
        }

        /// <summary>The status to report now (for telemetry or a status request).</summary>
        public OtaStatusMessage Status()
        {
            return StatusOf(_state);
        }

        private OtaStatusMessage Complete()
        {
            try
            {
                return Install(_incoming!);
            }
            catch (System.IO.IOException e)
            {
                Discard();
                return Refuse(UpdateError.StorageFailure, "could not install the model: " + e.Message, 0);
            }
        }

        private OtaStatusMessage Install(UpdateManifest m)
        {
            byte[] blob = new byte[m.PayloadSize];
            int read = _storage.Read(IncomingPayloadFile, 0, blob, 0, blob.Length);
            byte[] digest = Sha256.Hash(blob, 0, read);
            if (read != blob.Length || !SameBytes(digest, m.PayloadSha256))
            {
                Discard();
                return Refuse(UpdateError.DigestMismatch, "payload SHA-256 does not match the manifest", m.Sequence);
            }

            Int8Model? model;
            try
            {
                model = Int8Model.Load(blob, _boardClass, _maxRamBytes);
            }
            catch (ModelFormatException e)
            {
                Discard();
                return Refuse(UpdateError.InvalidModel, e.Message, m.Sequence);
            }

            string? over = Budget == null ? null : Budget.Refusal(model);
            if (over != null)
            {
                Discard();
                return Refuse(UpdateError.OverBudget, over, m.Sequence);
            }

            if (model.Header.ModelId != m.ModelId || model.Header.ModelVersion != m.ModelVersion || model.Header.InputLength != m.InputLength || model.OutputByteCount != m.OutputBytes)
            {
                Discard();
                return Refuse(UpdateError.InvalidModel, "model header (id, version, input or output size) does not match the manifest", m.Sequence);
            }

            int trial = _record.ActiveSlot == 0 ? 1 : 0;
            _storage.Write(SlotFiles[trial], blob, 0, blob.Length);
            _record.TrialSlot = trial;
            _record.TrialSequence = m.Sequence;
            WriteRecord();
            _state = UpdateState.PendingVerify;
            Discard();

            // Self-test on what the slot holds now, not on the bytes in memory: it also proves the write.
            string error = "";
            Int8Model? trialModel = LoadSlot(trial, ref error);
            if (trialModel == null || !ReproducesGoldenVectors(trialModel, m))
            {
                _record.TrialSlot = BootRecord.NoSlot;
                if (m.Sequence > _record.HighestSequence)
                {
                    _record.HighestSequence = m.Sequence;
                }

                Finish(UpdateState.RolledBack, UpdateError.SelfTestFailed, "release " + m.Sequence + " failed its self-test" + (error.Length > 0 ? ": " + error : ""));
                return StatusOf(UpdateState.RolledBack, m.Sequence);
            }

            _record.ActiveSlot = trial;
            _record.ActiveSequence = m.Sequence;
            _record.ActiveModelId = m.ModelId;
            _record.ActiveModelVersion = m.ModelVersion;
            _record.HighestSequence = m.Sequence;
            _record.TrialSlot = BootRecord.NoSlot;
            Finish(UpdateState.Confirmed, UpdateError.None, "");
            _active = trialModel;
            return StatusOf(UpdateState.Confirmed, m.Sequence);
        }

        /// <summary>True when <paramref name="model"/> reproduces every golden vector of <paramref name="m"/> byte for byte.</summary>
        public static bool ReproducesGoldenVectors(Int8Model model, UpdateManifest m)
        {
            float[] input = new float[m.InputLength];
            byte[] output = new byte[m.OutputBytes];
            for (int g = 0; g < m.GoldenCount; g++)
            {
                System.Array.Copy(m.GoldenInputs, g * m.InputLength, input, 0, m.InputLength);
                if (model.Invoke(input) != Int8Model.StatusOk)
                {
                    return false;
                }

                model.CopyOutputBytes(output, 0);
                for (int i = 0; i < m.OutputBytes; i++)
                {
                    if (output[i] != m.GoldenOutputs[(g * m.OutputBytes) + i])
                    {
                        return false;
                    }
                }
            }

            return true;
        }

        private Int8Model? LoadSlot(int slot, ref string error)
        {
            int length = _storage.Length(SlotFiles[slot]);
            if (length <= 0 || length > _maxModelBytes)
            {
                error = "slot " + slot + " holds " + length + " bytes";
                return null;
            }

            byte[] blob = new byte[length];
            if (_storage.Read(SlotFiles[slot], 0, blob, 0, length) != length)
            {
                error = "slot " + slot + " could not be read";
                return null;
            }

            Int8Model loaded;
            try
            {
                loaded = Int8Model.Load(blob, _boardClass, _maxRamBytes);
            }
            catch (ModelFormatException e)
            {
                error = e.Message;
                return null;
            }

            string? over = Budget == null ? null : Budget.Refusal(loaded);
            if (over != null)
            {
                error = over;
                return null;
            }

            return loaded;
        }

        private void ResumeDownload()
        {
            int length = _storage.Length(IncomingManifestFile);
            if (length <= 0)
            {
                _storage.Delete(IncomingPayloadFile);
                return;
            }

            byte[] bytes = new byte[length];
            UpdateManifest? m = null;
            if (_storage.Read(IncomingManifestFile, 0, bytes, 0, length) != length
                || UpdateManifest.TryParse(bytes, _key, out m) != UpdateError.None
                || m!.Sequence <= _record.HighestSequence)
            {
                // Torn or stale staging files: forget them; the gateway will offer again.
                _storage.Delete(IncomingPayloadFile);
                _storage.Delete(IncomingManifestFile);
                return;
            }

            int received = _storage.Length(IncomingPayloadFile);
            if (received > m.PayloadSize)
            {
                _storage.Delete(IncomingPayloadFile);
                received = 0;
            }

            _incoming = m;
            _incomingBytes = bytes;
            _received = received < 0 ? 0 : received;
            _state = UpdateState.Downloading;
            if (_received == m.PayloadSize)
            {
                Complete();
            }
        }

        private void Discard()
        {
            _incoming = null;
            _incomingBytes = null;
            _received = 0;
            _storage.Delete(IncomingPayloadFile);
            _storage.Delete(IncomingManifestFile);
        }

        private void Finish(int state, int error, string message)
        {
            _record.LastState = state;
            _record.LastError = error;
            WriteRecord();
            _state = state;
            _lastError = error;
            _lastMessage = message;
        }

        private void Fail(int error, string message)
        {
            _lastError = error;
            _lastMessage = message;
        }

        private OtaStatusMessage Refuse(int error, string message, uint sequence)
        {
            _state = UpdateState.Refused;
            Fail(error, message);
            return StatusOf(UpdateState.Refused, sequence);
        }

        private OtaStatusMessage StatusOf(int state)
        {
            return StatusOf(state, _incoming != null ? _incoming.Sequence : 0);
        }

        private OtaStatusMessage StatusOf(int state, uint sequence)
        {
            OtaStatusMessage s = new OtaStatusMessage();
            s.ReleaseSequence = sequence;
            s.State = state;
            s.Error = state == UpdateState.Downloading ? UpdateError.None : _lastError;
            s.NextOffset = _incoming != null ? _received : 0;
            s.InstalledSequence = _record.ActiveSequence;
            return s;
        }

        private BootRecord ReadRecord()
        {
            BootRecord? best = null;
            byte[] buffer = new byte[BootRecord.Size];
            for (int i = 0; i < RecordFiles.Length; i++)
            {
                int length = _storage.Length(RecordFiles[i]);
                if (length != BootRecord.Size)
                {
                    continue;
                }

                int read = _storage.Read(RecordFiles[i], 0, buffer, 0, BootRecord.Size);
                BootRecord? r = BootRecord.Decode(buffer, read);
                if (r != null && (best == null || r.Generation > best.Generation))
                {
                    best = r;
                }
            }

            return best ?? new BootRecord();
        }

        private void WriteRecord()
        {
            _record.Generation++;
            byte[] b = _record.Encode();
            _storage.Write(RecordFiles[(int)(_record.Generation & 1)], b, 0, b.Length);
        }

        private static bool SameBytes(byte[] a, byte[] b)
        {
            if (a.Length != b.Length)
            {
                return false;
            }

            for (int i = 0; i < a.Length; i++)
            {
                if (a[i] != b[i])
                {
                    return false;
                }
            }

            return true;
        }
    }
}
