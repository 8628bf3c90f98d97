namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>
    /// Plans a model's activation memory by tensor lifetime, as tflite-micro's greedy planner does: an intermediate
    /// activation lives from the op that writes it to the last op that reads it, and activations of one element type
    /// whose lifetimes do not overlap share one buffer (sized for the largest of them). The model's input and output
    /// keep buffers of their own (the caller reads them between invocations). Runs at load, before the ops are
    /// checked, so it tolerates a malformed op table; the op checks that follow reject one.
    /// </summary>
    public static class MemoryPlanner
    {
        /// <summary>
        /// Fills <paramref name="buffers"/> for every activation tensor and returns the bytes allocated.
        /// <paramref name="opAt"/> holds each op entry's offset in <paramref name="blob"/>.
        /// </summary>
        public static int Allocate(byte[] blob, int[] opAt, int[] types, int[] kinds, int[] lengths, int input, int output, object?[] buffers)
        {
            int n = types.Length;
            int[] firstWrite = new int[n];
            int[] lastRead = new int[n];
            for (int t = 0; t < n; t++)
            {
                firstWrite[t] = -1;
                lastRead[t] = -1;
            }

            for (int i = 0; i < opAt.Length; i++)
            {
                int at = opAt[i];
                int count = blob[at + 1];
                for (int s = 0; s < count && s < ModelFormat.MaxOperands; s++)
                {
                    int ti = blob[at + ModelFormat.OpHeaderSize + s];
                    if (ti >= n)
                    {
                        continue;
                    }

                    if (s == count - 1)
                    {
                        if (firstWrite[ti] < 0)
                        {
                            firstWrite[ti] = i;
                        }
                    }
                    else if (i > lastRead[ti])
                    {
                        lastRead[ti] = i;
                    }
                }
            }

            // Slots: one per buffer to allocate; each remembers its type, size and the last op that still needs it.
            int[] slotOf = new int[n];
            int[] slotType = new int[n];
            int[] slotSize = new int[n];
            int[] slotBusyUntil = new int[n];
            int slots = 0;
            for (int op = 0; op < opAt.Length; op++)
            {
                for (int t = 0; t < n; t++)
                {
                    if (firstWrite[t] != op || kinds[t] != ModelFormat.KindActivation || t == input || t == output)
                    {
                        continue;
                    }

                    int until = lastRead[t] > op ? lastRead[t] : op;
                    int best = -1;
                    for (int s = 0; s < slots; s++)
                    {
                        // Free means its last reader ran before this op: an op never writes over its own input.
                        if (slotType[s] == types[t] && slotBusyUntil[s] < op && (best < 0 || Closer(slotSize[s], slotSize[best], lengths[t])))
                        {
                            best = s;
                        }
                    }

                    if (best < 0)
                    {
                        best = slots;
                        slots++;
                        slotType[best] = types[t];
                        slotSize[best] = 0;
                    }

                    if (lengths[t] > slotSize[best])
                    {
                        slotSize[best] = lengths[t];
                    }

                    slotBusyUntil[best] = until;
                    slotOf[t] = best + 1; // 0 = no slot
                }
            }

            object?[] slotBuffer = new object?[slots];
            int bytes = 0;
            for (int s = 0; s < slots; s++)
            {
                slotBuffer[s] = NewBuffer(slotType[s], slotSize[s]);
                bytes += slotSize[s] * ModelFormat.ElementSize(slotType[s]);
            }

            for (int t = 0; t < n; t++)
            {
                if (kinds[t] != ModelFormat.KindActivation)
                {
                    continue;
                }

                if (slotOf[t] > 0)
                {
                    buffers[t] = slotBuffer[slotOf[t] - 1];
                }
                else
                {
                    // The input, the output, and any activation no op writes (the op checks refuse that model).
                    buffers[t] = NewBuffer(types[t], lengths[t]);
                    bytes += lengths[t] * ModelFormat.ElementSize(types[t]);
                }
            }

            return bytes;
        }

        // Prefer a slot already big enough, the smallest such; else the biggest, so it grows least.
        private static bool Closer(int candidate, int current, int need)
        {
            bool candidateFits = candidate >= need;
            bool currentFits = current >= need;
            if (candidateFits != currentFits)
            {
                return candidateFits;
            }

            return candidateFits ? candidate < current : candidate > current;
        }

        private static object NewBuffer(int type, int length)
        {
            if (type == ModelFormat.TypeInt8)
            {
                return new sbyte[length];
            }

            if (type == ModelFormat.TypeInt32)
            {
                return new int[length];
            }

            return new float[length];
        }
    }
}
