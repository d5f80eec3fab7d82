"""Methods, one file each: ``rec/`` (general recommendation), ``seq/`` (sequential),
``node/`` (node level). Nothing is imported here: :mod:`graphcl.registry` imports a
method's module when the method is first asked for."""
