import { hideMissingCellIds } from '../cellids';

describe('hideMissingCellIds', () => {
  it('drops the id row only where neither side has an id', () => {
    const cells = [
      { cellId: { base: undefined, remote: undefined } },
      { cellId: { base: null, remote: null } },
      { cellId: { base: 'a1', remote: 'a1' } },
      { cellId: { base: undefined, remote: 'new' } },
      { cellId: null }
    ];
    expect(hideMissingCellIds(cells)).toBe(2);
    expect(cells.map(c => c.cellId)).toEqual([
      null,
      null,
      { base: 'a1', remote: 'a1' },
      { base: undefined, remote: 'new' },
      null
    ]);
  });
});
