import Parley; print(ParleyVersion.string)
