namespace TinyMlops.Firmware.Core.Models
{
    /// <summary>A model blob failed validation. <see cref="Code"/> says which rule it broke.</summary>
    public class ModelFormatException : System.Exception
    {
        /// <summary>Creates the exception.</summary>
        public ModelFormatException(ModelError code, string message)
            : base(message)
        {
            Code = code;
        }

        /// <summary>The rule the blob broke.</summary>
        public ModelError Code { get; private set; }
    }

    /// <summary>Why a model blob was refused.</summary>
    public enum ModelError
    {
        /// <summary>Shorter than its header or its declared size.</summary>
        Truncated = 1,

        /// <summary>Wrong magic number.</summary>
        BadMagic = 2,

        /// <summary>A format version this loader does not read.</summary>
        UnsupportedVersion = 3,

        /// <summary>CRC32 mismatch.</summary>
        BadChecksum = 4,

        /// <summary>A header field is out of range.</summary>
        BadHeader = 5,

        /// <summary>A tensor entry is invalid or points outside the blob.</summary>
        BadTensor = 6,

        /// <summary>An op entry is invalid, or its operands do not fit together.</summary>
        BadOp = 7,

        /// <summary>The model was built for another board class.</summary>
        WrongBoard = 8,

        /// <summary>The model needs more working memory than allowed.</summary>
        TooLarge = 9,
    }
}
