import { expect } from 'chai';
import { MAX_REGIONS_PER_QUERY, plan, poolId, type PlanInput } from '../../services/market/planner.js';

const REGIONS = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1', 'eu-north-1', 'ap-south-1', 'ap-northeast-1', 'ap-southeast-1'];
const TYPES = ['m5.large', 'c5.large', 'r5.large', 'm6i.large', 'c6i.large'];
const pools = REGIONS.flatMap((region) => TYPES.map((type) => ({ region, type })));

const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  pools,
  moved: new Map(),
  credentials: [{ name: 'default', left: 50 }],
  maxQueries: 50,
  topK: 20,
  explore: 10,
  targets: [1, 5, 10, 20, 30, 40, 50],
  day: 0,
  seed: 1,
  ...over,
});

describe('market: placement-score budget planner', () => {
  it('packs pools into fewer queries than pools, one type and at most 10 regions each', () => {
    const p = plan(base({ topK: 0, explore: 60 }));
    expect(p.covered).to.equal(60);
    expect(p.queries.length).to.be.below(p.covered);
    // 12 regions a type: two queries a type at least, and no more.
    expect(p.queries.length).to.equal(TYPES.length * 2);
    for (const q of p.queries) {
      expect(q.regions.length).to.be.within(1, MAX_REGIONS_PER_QUERY);
      expect(new Set(q.regions).size).to.equal(q.regions.length);
    }
  });

  it('goes first to the pools that moved most, then to a seeded random sample', () => {
    const moved = new Map([
      [poolId({ region: 'eu-west-1', type: 'c5.large' }), 5],
      [poolId({ region: 'us-west-2', type: 'm5.large' }), 3],
      [poolId({ region: 'ap-south-1', type: 'r5.large' }), 1],
    ]);
    const p = plan(base({ moved, topK: 2, explore: 3 }));
    expect(p.top).to.deep.equal(['eu-west-1#c5.large', 'us-west-2#m5.large']);
    expect(p.sampled).to.have.length(3);
    expect(p.sampled).to.not.include.members(p.top);
    const covered = new Set(p.queries.flatMap((q) => q.regions.map((r) => `${r}#${q.type}`)));
    for (const id of [...p.top, ...p.sampled]) expect(covered.has(id), id).to.equal(true);
    // Same seed, same plan; another seed, another sample.
    expect(plan(base({ moved, topK: 2, explore: 3 })).sampled).to.deep.equal(p.sampled);
    expect(plan(base({ moved, topK: 2, explore: 3, seed: 2 })).sampled).to.not.deep.equal(p.sampled);
  });

  it('never plans more queries than the credentials have left, rotating to the next when one is spent', () => {
    const p = plan(base({ topK: 0, explore: 60, credentials: [{ name: 'a', left: 3 }, { name: 'b', left: 0 }, { name: 'c', left: 2 }] }));
    expect(p.queries.map((q) => q.credential)).to.deep.equal(['a', 'a', 'a', 'c', 'c']);
    expect(plan(base({ credentials: [{ name: 'a', left: 0 }] })).queries).to.deep.equal([]);
    expect(plan(base({ topK: 0, explore: 60, maxQueries: 4 })).queries).to.have.length(4);
  });

  it('cycles target capacities by day and by query', () => {
    const d0 = plan(base({ topK: 0, explore: 60 })).queries.map((q) => q.targetCapacity);
    const d1 = plan(base({ topK: 0, explore: 60, day: 1 })).queries.map((q) => q.targetCapacity);
    expect(d0.slice(0, 7)).to.deep.equal([1, 5, 10, 20, 30, 40, 50]);
    expect(d1[0]).to.equal(5);
    expect(new Set(d0).size).to.be.above(1);
  });

  it('gives the types only job specs name at most their share of the queries', () => {
    const limited = new Set(['m6i.large', 'c6i.large']);
    const free = plan(base({ topK: 0, explore: 60, maxQueries: 10 }));
    expect(free.queries.filter((q) => limited.has(q.type)).length).to.be.above(1);
    const capped = plan(base({ topK: 0, explore: 60, maxQueries: 10, limited: { types: limited, maxQueries: 1 } }));
    expect(capped.queries.filter((q) => limited.has(q.type))).to.have.length(1);
    // The configured types still get what they need: two queries each for 12 regions.
    expect(capped.queries.filter((q) => !limited.has(q.type))).to.have.length(6);
    expect(plan(base({ topK: 0, explore: 60, limited: { types: limited, maxQueries: 0 } })).queries.some((q) => limited.has(q.type))).to.equal(false);
  });
});
