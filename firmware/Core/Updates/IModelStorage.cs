namespace TinyMlops.Firmware.Core.Updates
{
    /// <summary>
    /// Flat file storage for model slots and update state: LittleFS at <c>I:\</c> on the ESP32, a folder on a host.
    /// Each mutating call (<see cref="Write"/>, <see cref="Append"/>, <see cref="Delete"/>) is one durable step; a
    /// power loss during a step may leave that one file torn (a prefix of the new bytes), never any other file.
    /// The update state machine is written to survive exactly that. Implementations need not be thread-safe.
    /// </summary>
    public interface IModelStorage
    {
        /// <summary>Length of file <paramref name="name"/>, or -1 when it does not exist.</summary>
        int Length(string name);

        /// <summary>Reads up to <paramref name="count"/> bytes at <paramref name="position"/>; returns how many were read.</summary>
        int Read(string name, int position, byte[] buffer, int offset, int count);

        /// <summary>Creates or replaces <paramref name="name"/> with the given bytes.</summary>
        void Write(string name, byte[] data, int offset, int count);

        /// <summary>Appends bytes to <paramref name="name"/>, creating it when missing.</summary>
        void Append(string name, byte[] data, int offset, int count);

        /// <summary>Deletes <paramref name="name"/> if it exists.</summary>
        void Delete(string name);
    }
}
