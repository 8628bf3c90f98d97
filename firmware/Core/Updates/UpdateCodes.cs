namespace TinyMlops.Firmware.Core.Updates
{
    /// <summary>Where a node's model update stands (sent in telemetry and OTA status).</summary>
    public static class UpdateState
    {
        /// <summary>No update in progress; the confirmed model runs (or none is installed yet).</summary>
        public const int Idle = 0;

        /// <summary>A manifest was accepted; payload chunks are arriving.</summary>
        public const int Downloading = 1;

        /// <summary>The new model is in the trial slot and has not passed its self-test yet.</summary>
        public const int PendingVerify = 2;

        /// <summary>The last update passed its self-test and runs.</summary>
        public const int Confirmed = 3;

        /// <summary>The last update was rolled back; the previous model runs.</summary>
        public const int RolledBack = 4;

        /// <summary>The last offer or chunk was refused (see the error code).</summary>
        public const int Refused = 5;
    }

    /// <summary>Why an update step was refused or rolled back.</summary>
    public static class UpdateError
    {
        /// <summary>No error.</summary>
        public const int None = 0;

        /// <summary>The manifest's structure is invalid.</summary>
        public const int MalformedManifest = 1;

        /// <summary>HMAC-SHA256 with this node's key does not match.</summary>
        public const int BadSignature = 2;

        /// <summary>The manifest names another node.</summary>
        public const int WrongNode = 3;

        /// <summary>The model is for another board class.</summary>
        public const int WrongBoard = 4;

        /// <summary>The release sequence is not above what the node has installed or rejected.</summary>
        public const int Rollback = 5;

        /// <summary>The payload exceeds the model slot.</summary>
        public const int TooLarge = 6;

        /// <summary>A chunk for another release, or one that runs past the payload.</summary>
        public const int BadChunk = 7;

        /// <summary>The received payload's SHA-256 does not match the manifest.</summary>
        public const int DigestMismatch = 8;

        /// <summary>The payload is not a valid model for this board (see the model loader's message).</summary>
        public const int InvalidModel = 9;

        /// <summary>The model did not reproduce its golden vectors.</summary>
        public const int SelfTestFailed = 10;

        /// <summary>The node reset while the new model was pending verification.</summary>
        public const int ResetBeforeConfirm = 11;

        /// <summary>A chunk arrived with no update in progress.</summary>
        public const int NoUpdate = 12;

        /// <summary>Storage failed (full, or an I/O error).</summary>
        public const int StorageFailure = 13;

        /// <summary>The model cannot keep up with the node's windows or does not fit its RAM (<see cref="Node.PipelineBudget"/>).</summary>
        public const int OverBudget = 14;
    }
}
