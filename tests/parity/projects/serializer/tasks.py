"""Function tasks that return their data (the spec's serializer writes it)."""


def numbers(n):
    return list(range(n))


def total(upstream, factor):
    return str(sum(upstream["numbers"]) * factor)


def summary(upstream):
    return {"total": int(upstream["total"]), "numbers": len(upstream["numbers"])}
