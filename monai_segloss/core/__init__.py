"""The loss core, the four stages every loss runs through.

1. :mod:`.options`: the option sets, validated once when a loss is built.
2. :mod:`.prepare`: one preparation of ``(input, target, mask)`` (activation, target format, channel selection,
   class weights, ignored voxels), shared by the terms of a compound loss.
3. :mod:`.stats`: soft confusion statistics in closed form (label maps never become one-hot tensors), summed over the
   batch and across DDP ranks (:mod:`.distributed`); :mod:`.scores` turns them into scores, one formula each.
4. :mod:`.reduce`: class weights, the empty-target policy and the reduction.

Nothing here knows a loss module or the registry.
"""
